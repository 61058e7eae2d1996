# Export ordinal's wine data to lmm_bayes/data/wine.csv and print the ordinal::clmm reference
# estimates that tests/validation/test_ordinal_validation.py compares with. The rating (an
# ordered factor, 1 < ... < 5) is written as its whole numbers, temp and contact as their
# labels, judge and bottle as their numbers (read back as labels). Run from the repository root:
#   Rscript scripts/export_ordinal_data.R
suppressPackageStartupMessages(library(ordinal))

wine <- ordinal::wine
out <- data.frame(response = wine$response, rating = as.integer(wine$rating),
                  temp = as.character(wine$temp), contact = as.character(wine$contact),
                  bottle = as.integer(as.character(wine$bottle)),
                  judge = as.integer(as.character(wine$judge)))
path <- file.path("lmm_bayes", "data", "wine.csv")
write.csv(out, path, row.names = FALSE)
cat(path, nrow(out), "rows\n")

# Christensen's example (ordinal's clmm documentation): Laplace approximation, the default
for (link in c("logit", "probit")) {
  fm <- clmm(rating ~ temp + contact + (1 | judge), data = wine, link = link)
  cat("\nlink =", link, " logLik =", format(as.numeric(logLik(fm)), digits = 10), "\n")
  print(signif(coef(fm), 8))
  print(signif(sqrt(diag(vcov(fm))), 6))
  cat("sd_judge =", signif(sqrt(as.numeric(VarCorr(fm)$judge)), 8), "\n")
}
cat("ordinal", as.character(packageVersion("ordinal")), "\n")

# The R reference numbers of tests/unit/test_r_spellings.py and
# tests/validation/test_r_spellings_reference.py: model.matrix of R spellings (poly, factor,
# ordered, contr.poly), poly's coefficients and its evaluation on new data (makepredictcall),
# and lme4's estimates of a poly + factor model. Run from the repository root:
#   Rscript scripts/r_spellings_golden.R
suppressPackageStartupMessages(library(lme4))
options(digits = 15)

d <- data.frame(x = c(1, 2, 4, 7, 11, 2, 4, 7),
                f = c("a", "b", "c", "a", "b", "c", "a", "b"),
                t = c(0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4))
show <- function(m) {
  cat(deparse(colnames(m)), "\n")
  cat(deparse(signif(as.vector(m), 15)), "\n\n")  # column-major, as the test reshapes it
}
for (rhs in c("poly(x, 2)", "poly(x, 3, raw = TRUE)", "factor(x)", "ordered(x)",
              "poly(x, 2):f", "ordered(f) * t", "0 + ordered(f)")) {
  cat("~", rhs, "\n")
  show(model.matrix(as.formula(paste("~", rhs)), d))
}
print(attr(poly(d$x, 2), "coefs"))
print(contr.poly(3))

# new data through a fitted model's terms: poly(x, 2, coefs = <the fitting data's>)
tt <- delete.response(terms(lm(t ~ poly(x, 2) + ordered(f), d)))
new <- data.frame(x = c(0, 3, 12), f = c("c", "a", "b"))
show(model.matrix(tt, model.frame(tt, new)))

# the validation model
b <- read.csv("lmm_bayes/data/bodyweight.csv")
b$Rat <- factor(b$Rat)
m <- lmer(weight ~ poly(Time, 2) + factor(Diet) + (1 + Time | Rat), data = b, REML = TRUE)
print(fixef(m))
print(sqrt(diag(vcov(m))))

# Export three GLMM data sets to lmm_bayes/data/ (CSV): mlmRev's Contraception, lme4's VerbAgg
# and Arabidopsis. Binary responses are written 0/1 (1 = "Y"), factors as their labels, and
# Arabidopsis's total.fruits as total_fruits, the name the benchmark formulas use. Run from the
# repository root:
#   Rscript scripts/export_glmm_data.R
suppressPackageStartupMessages({
  library(lme4)
  library(mlmRev)
})

export <- function(x, file, columns) {
  x <- as.data.frame(x)[, columns]
  for (col in columns) if (is.factor(x[[col]])) x[[col]] <- as.character(x[[col]])
  path <- file.path("lmm_bayes", "data", file)
  write.csv(x, path, row.names = FALSE)
  cat(path, nrow(x), "rows\n")
}

# "Y"/"N" factor to 0/1, so that the response is numeric for both tools
yes <- function(f) as.numeric(f == "Y")

contraception <- transform(mlmRev::Contraception, use = yes(use))
export(contraception, "contraception.csv",
       c("woman", "district", "use", "livch", "age", "urban"))

verbagg <- transform(lme4::VerbAgg, r2 = yes(r2))
export(verbagg, "verbagg.csv",
       c("id", "item", "r2", "Anger", "Gender", "btype", "situ", "mode"))

arabidopsis <- lme4::Arabidopsis
names(arabidopsis)[names(arabidopsis) == "total.fruits"] <- "total_fruits"
export(arabidopsis, "arabidopsis.csv",
       c("reg", "popu", "gen", "rack", "nutrient", "amd", "status", "total_fruits"))
cat("lme4", as.character(packageVersion("lme4")),
    "mlmRev", as.character(packageVersion("mlmRev")), "\n")

# Elston et al. (2001): ticks on red grouse chicks, 403 chicks in 118 broods; the example of
# an observation-level random effect (1 | INDEX), one level per chick
export(lme4::grouseticks, "grouseticks.csv",
       c("INDEX", "TICKS", "BROOD", "HEIGHT", "YEAR", "LOCATION", "cHEIGHT"))

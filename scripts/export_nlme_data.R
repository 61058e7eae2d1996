# Export nlme's Oats, Machines, Pixel, BodyWeight and Ovary to lmm_bayes/data/ (CSV, lower-case
# file names, factor levels written as strings). Run from the repository root:
#   Rscript scripts/export_nlme_data.R
library(nlme)

export <- function(name, columns) {
  x <- as.data.frame(get(name, envir = asNamespace("nlme")))[, columns]
  for (col in columns) if (is.factor(x[[col]])) x[[col]] <- as.character(x[[col]])
  path <- file.path("lmm_bayes", "data", paste0(tolower(name), ".csv"))
  write.csv(x, path, row.names = FALSE)
  cat(path, nrow(x), "rows\n")
}

export("Oats", c("Block", "Variety", "nitro", "yield"))
export("Machines", c("Worker", "Machine", "score"))
export("Pixel", c("Dog", "Side", "day", "pixel"))
export("BodyWeight", c("Rat", "Time", "Diet", "weight"))
export("Ovary", c("Mare", "Time", "follicles"))
cat("nlme", as.character(packageVersion("nlme")), "\n")

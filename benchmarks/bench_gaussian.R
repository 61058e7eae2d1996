# R side of bench_gaussian.py: fit each job's model with lme4 or nlme, time the fit call
# (median of `repeats` runs) and report the estimates as JSON.
#
# Usage: Rscript bench_gaussian.R jobs.json results.json
# jobs.json: a list of {key, csv, call, labels, reference, repeats} (see bench_common.R); `call`
# is e.g. "lmer(y ~ x + (1 | g), data = data, REML = TRUE)".
suppressPackageStartupMessages({
  library(jsonlite)
  library(lme4)
  library(nlme)
})
source(file.path(local({
  file <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  dirname(normalizePath(file))
}), "bench_common.R"))

args <- commandArgs(trailingOnly = TRUE)
jobs <- fromJSON(args[[1]], simplifyVector = FALSE)

estimates <- function(fit) {
  if (inherits(fit, "merMod")) return(c(mer_estimates(fit), list(sigma = sigma(fit))))
  # nlme::lme with one grouping factor
  group <- names(fit$groups)[[1]]
  cov <- as.matrix(getVarCov(fit))
  terms <- rownames(cov)
  sds <- sqrt(diag(cov))
  cors <- list()
  if (length(terms) > 1) {
    r <- cov2cor(cov)
    for (j in 2:length(terms)) for (i in 1:(j - 1))
      cors[[length(cors) + 1]] <- list(group = group, terms = c(terms[i], terms[j]),
                                       value = r[i, j])
  }
  ms <- fit$modelStruct
  out <- list(
    fixef = as.list(fixef(fit)),
    sd = lapply(seq_along(terms), function(i)
      list(group = group, term = terms[i], value = unname(sds[i]))),
    cor = cors,
    sigma = fit$sigma)
  if (!is.null(ms$corStruct))
    out$cor_struct <- as.list(coef(ms$corStruct, unconstrained = FALSE))
  if (!is.null(ms$varStruct))
    out$var_struct <- as.list(coef(ms$varStruct, unconstrained = FALSE))
  out
}

# one untimed fit of each kind first, so that loading the packages' code lazily is not charged
# to whichever model comes first
invisible(lmer(Reaction ~ Days + (Days | Subject), data = sleepstudy))
invisible(lme(distance ~ age, random = ~ age | Subject, data = Orthodont,
              correlation = corAR1(), weights = varPower()))

run_jobs(jobs, estimates,
         list(lme4 = as.character(packageVersion("lme4")),
              nlme = as.character(packageVersion("nlme"))),
         args[[2]])

# R side of bench_glmm.py: fit each job's GLMM with lme4 (glmer, glmer.nb) or glmmTMB, time the
# fit call (median of `repeats` runs) and report the estimates as JSON: fixed effects,
# random-effect SDs and, for the negative binomial, the dispersion `alpha` (lme4's theta,
# glmmTMB's nbinom2 sigma: Var y = mu + mu^2 / alpha, as lmm_bayes's alpha).
#
# Usage: Rscript bench_glmm.R jobs.json results.json
# jobs.json: a list of {key, csv, call, labels, reference, repeats} (see bench_common.R); `call`
# is e.g. "glmer(y ~ x + (1 | g), data = data, family = binomial)".
suppressPackageStartupMessages({
  library(jsonlite)
  library(lme4)
  library(glmmTMB)
})
source(file.path(local({
  file <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  dirname(normalizePath(file))
}), "bench_common.R"))

args <- commandArgs(trailingOnly = TRUE)
jobs <- fromJSON(args[[1]], simplifyVector = FALSE)

tmb_estimates <- function(fit) {
  vc <- VarCorr(fit)$cond
  sd <- list()
  for (group in names(vc)) {
    sds <- attr(vc[[group]], "stddev")
    for (term in names(sds))
      sd[[length(sd) + 1]] <- list(group = group, term = term, value = unname(sds[[term]]))
  }
  out <- list(fixef = as.list(fixef(fit)$cond), sd = sd, cor = list())
  if (family(fit)$family == "nbinom2") out$alpha <- sigma(fit)
  out
}

estimates <- function(fit) {
  if (inherits(fit, "glmmTMB")) return(tmb_estimates(fit))
  out <- mer_estimates(fit)
  if (grepl("Negative Binomial", family(fit)$family)) out$alpha <- getME(fit, "glmer.nb.theta")
  out
}

# one untimed fit of each tool first, so that loading the packages' code lazily (and TMB's
# first tape) is not charged to whichever model comes first
invisible(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp,
                family = binomial))
invisible(glmmTMB(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp,
                  family = binomial))

run_jobs(jobs, estimates,
         list(lme4 = as.character(packageVersion("lme4")),
              glmmTMB = as.character(packageVersion("glmmTMB"))),
         args[[2]])

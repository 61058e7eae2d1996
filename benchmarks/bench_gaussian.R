# R side of bench_gaussian.py: fit each job's model with lme4 or nlme, time the fit call
# (median of `repeats` runs) and report the estimates as JSON.
#
# Usage: Rscript bench_gaussian.R jobs.json results.json
# jobs.json: a list of {key, csv, call, labels, reference, repeats}; `call` is R code that fits
# `data` (e.g. "lmer(y ~ x + (1 | g), data = data, REML = TRUE)"), `labels` the columns read as
# strings and made factors, `reference` a {column: level} map of reference levels.
suppressPackageStartupMessages({
  library(jsonlite)
  library(lme4)
  library(nlme)
})

args <- commandArgs(trailingOnly = TRUE)
jobs <- fromJSON(args[[1]], simplifyVector = FALSE)

read_job_data <- function(job) {
  labels <- unlist(job$labels)
  classes <- if (length(labels)) setNames(rep("character", length(labels)), labels) else NA
  data <- read.csv(job$csv, colClasses = classes)
  for (col in labels) data[[col]] <- factor(data[[col]])
  for (col in names(job$reference)) data[[col]] <- relevel(data[[col]], job$reference[[col]])
  data
}

estimates <- function(fit) {
  if (inherits(fit, "merMod")) {
    vc <- as.data.frame(VarCorr(fit))
    re <- vc[vc$grp != "Residual", ]
    sds <- re[is.na(re$var2), ]
    cors <- re[!is.na(re$var2), ]
    return(list(
      fixef = as.list(fixef(fit)),
      sd = lapply(seq_len(nrow(sds)), function(i)
        list(group = sds$grp[i], term = sds$var1[i], value = sds$sdcor[i])),
      cor = lapply(seq_len(nrow(cors)), function(i)
        list(group = cors$grp[i], terms = c(cors$var1[i], cors$var2[i]),
             value = cors$sdcor[i])),
      sigma = sigma(fit)))
  }
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

run_job <- function(job) {
  data <- read_job_data(job)
  expr <- parse(text = job$call)[[1]]
  times <- numeric(0)
  warns <- character(0)
  fit <- NULL
  for (r in seq_len(job$repeats)) {
    start <- proc.time()[["elapsed"]]
    fit <- withCallingHandlers(eval(expr),
                               warning = function(w) {
                                 warns <<- c(warns, conditionMessage(w))
                                 invokeRestart("muffleWarning")
                               })
    times <- c(times, proc.time()[["elapsed"]] - start)
  }
  c(list(key = job$key, times = times, seconds = median(times),
         warnings = unique(warns)), estimates(fit))
}

# one untimed fit of each kind first, so that loading the packages' code lazily is not charged
# to whichever model comes first
invisible(lmer(Reaction ~ Days + (Days | Subject), data = sleepstudy))
invisible(lme(distance ~ age, random = ~ age | Subject, data = Orthodont,
              correlation = corAR1(), weights = varPower()))

results <- lapply(jobs, function(job) {
  tryCatch(run_job(job), error = function(e) list(key = job$key, error = conditionMessage(e)))
})
versions <- list(R = R.version.string,
                 lme4 = as.character(packageVersion("lme4")),
                 nlme = as.character(packageVersion("nlme")))
writeLines(toJSON(list(versions = versions, results = results), auto_unbox = TRUE,
                  digits = NA, null = "null"), args[[2]])

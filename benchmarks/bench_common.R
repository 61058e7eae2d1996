# Helpers shared by the R sides of the benchmarks (bench_gaussian.R, bench_glmm.R): read a job's
# data, time its fitting call, report lme4's estimates and write the results as JSON.
#
# A job is {key, csv, call, labels, reference, repeats}; `call` is R code that fits `data`,
# `labels` the columns read as strings and made factors, `reference` a {column: level} map of
# reference levels, `repeats` the number of timed fits (the median is reported).

read_job_data <- function(job) {
  labels <- unlist(job$labels)
  classes <- if (length(labels)) setNames(rep("character", length(labels)), labels) else NA
  data <- read.csv(job$csv, colClasses = classes)
  for (col in labels) data[[col]] <- factor(data[[col]])
  for (col in names(job$reference)) data[[col]] <- relevel(data[[col]], job$reference[[col]])
  data
}

# fixed effects, random-effect SDs and correlations of an lme4 fit (lmer or glmer)
mer_estimates <- function(fit) {
  vc <- as.data.frame(VarCorr(fit))
  re <- vc[vc$grp != "Residual", ]
  sds <- re[is.na(re$var2), ]
  cors <- re[!is.na(re$var2), ]
  list(
    fixef = as.list(fixef(fit)),
    sd = lapply(seq_len(nrow(sds)), function(i)
      list(group = sds$grp[i], term = sds$var1[i], value = sds$sdcor[i])),
    cor = lapply(seq_len(nrow(cors)), function(i)
      list(group = cors$grp[i], terms = c(cors$var1[i], cors$var2[i]), value = cors$sdcor[i])))
}

# time `job$call` `job$repeats` times; the warnings are collected, not printed, since the
# Python side reports them per model
run_job <- function(job, estimates) {
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
  # I(): keep one-element vectors as JSON arrays (jsonlite unboxes them otherwise)
  c(list(key = job$key, times = I(times), seconds = median(times),
         warnings = I(unique(warns))), estimates(fit))
}

# run every job (a failing job reports its error and the others go on) and write the JSON
run_jobs <- function(jobs, estimates, versions, path) {
  results <- lapply(jobs, function(job) {
    tryCatch(run_job(job, estimates),
             error = function(e) list(key = job$key, error = conditionMessage(e)))
  })
  versions <- c(list(R = R.version.string), versions)
  writeLines(toJSON(list(versions = versions, results = results), auto_unbox = TRUE,
                    digits = NA, null = "null"), path)
}


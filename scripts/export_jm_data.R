# Export the JM package's AIDS data (aids, aids.id: the ddI/ddC trial, Abrams et al. 1994,
# NEJM 330: 657-662; JM 1.5-2, D. Rizopoulos, GPL (>= 2)) to lmm_bayes/data/aids_visits.csv
# (one row per CD4 measurement) and lmm_bayes/data/aids_patients.csv (one row per patient),
# and print the JM reference fits that tests/validation/test_joint_aids.py compares against:
# the joint model with the current value (and with value and slope), and the naive two-stage
# Cox model with the lme-predicted trajectory as a time-varying covariate.
# Run from the repository root:
#   Rscript scripts/export_jm_data.R
.libPaths(c("/work/rlib", .libPaths()))
suppressPackageStartupMessages(library(JM))

visits <- aids[, c("patient", "obstime", "CD4", "drug", "gender", "prevOI", "AZT")]
patients <- aids.id[, c("patient", "Time", "death", "drug", "gender", "prevOI", "AZT")]
for (x in list(visits, patients)) stopifnot(!anyNA(x))
write.csv(data.frame(lapply(visits, function(v) if (is.factor(v)) as.character(v) else v)),
          "lmm_bayes/data/aids_visits.csv", row.names = FALSE)
write.csv(data.frame(lapply(patients, function(v) if (is.factor(v)) as.character(v) else v)),
          "lmm_bayes/data/aids_patients.csv", row.names = FALSE)
cat(nrow(visits), "visits of", nrow(patients), "patients,", sum(patients$death), "deaths\n")

options(digits = 10)
table_of <- function(fit) {
  s <- summary(fit)
  print(s$`CoefTable-Long`)
  print(s$`CoefTable-Event`)
  print(s$D)
  cat("sigma", s$sigma, "logLik", fit$logLik, "\n")
}

lmeFit <- lme(CD4 ~ obstime + obstime:drug, random = ~ obstime | patient, data = aids)
coxFit <- coxph(Surv(Time, death) ~ drug, data = aids.id, x = TRUE)

cat("\n== value: jointModel(..., method = 'weibull-PH-aGH')\n")
t0 <- proc.time()
value <- jointModel(lmeFit, coxFit, timeVar = "obstime", method = "weibull-PH-aGH")
print(proc.time() - t0)
table_of(value)

cat("\n== value + slope: parameterization = 'both'\n")
dForm <- list(fixed = ~ 1 + drug, indFixed = c(2, 3), random = ~ 1, indRandom = 2)
both <- jointModel(lmeFit, coxFit, timeVar = "obstime", method = "weibull-PH-aGH",
                   parameterization = "both", derivForm = dForm)
table_of(both)

cat("\n== two-stage: lme, then coxph with the lme trajectory (fixed + BLUP) at each event time\n")
re <- ranef(lmeFit)
b <- fixef(lmeFit)
trajectory <- function(x, t, ...) {
  # x: row index into aids.id; the fitted CD4 of that patient at time t
  i <- aids.id$patient[x]
  ddi <- as.numeric(aids.id$drug[x] == "ddI")
  b[1] + re[as.character(i), 1] + (b[2] + b[3] * ddi + re[as.character(i), 2]) * t
}
aids.id$row <- seq_len(nrow(aids.id))
twoStage <- coxph(Surv(Time, death) ~ drug + tt(row), data = aids.id, tt = trajectory)
print(summary(twoStage)$coefficients)
print(summary(lmeFit)$tTable)
print(VarCorr(lmeFit))

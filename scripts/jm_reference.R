# R's JM (Rizopoulos 2010, J. Stat. Softw. 35(9)) on the shipped SBP cohort: the reference of
# tests/validation/test_jm_reference.py. The same joint model as models/sbp_cvd.toml: the
# marker's LMM (nlme::lme), a Weibull proportional hazard with arm and age and the current
# value of the marker, fitted by maximum likelihood (adaptive Gauss-Hermite over the effects).
# Run from the repository root: Rscript scripts/jm_reference.R
.libPaths(c("/work/rlib", .libPaths()))
suppressPackageStartupMessages({library(nlme); library(survival); library(JM)})
visits <- read.csv("lmm_bayes/data/sbp_visits.csv")
events <- read.csv("lmm_bayes/data/sbp_events.csv")
visits <- visits[order(visits$id, visits$time), ]
events <- events[order(events$id), ]
marker <- lme(sbp ~ time * arm, random = ~ time | id, data = visits)
hazard <- coxph(Surv(years, event) ~ arm + age, data = events, x = TRUE)
fit <- jointModel(marker, hazard, timeVar = "time", method = "weibull-PH-aGH")
s <- summary(fit)
print(s$"CoefTable-Long")
print(s$"CoefTable-Event")
print(s$D)
cat("sigma", s$sigma, "\n")

# The piecewise-constant baseline on [0, 1), [1, 2), [2, 3), [3, 4), [4, Inf)
piecewise <- jointModel(marker, hazard, timeVar = "time", method = "piecewise-PH-aGH",
                        control = list(knots = c(1, 2, 3, 4)))
print(summary(piecewise)$"CoefTable-Event")
print(logLik(piecewise))

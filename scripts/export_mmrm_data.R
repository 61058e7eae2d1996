# Export the mmrm package's fev_data (an artificial FEV1 trial; mmrm 0.3.18, Apache License
# 2.0, openpharma/mmrm data/fev_data.rda) to lmm_bayes/data/fev_trial.csv, and print the
# nlme reference of the MMRM that tests/validation/test_mmrm_agreement.py compares against.
# Run: Rscript scripts/export_mmrm_data.R path/to/fev_data.rda
args <- commandArgs(trailingOnly = TRUE)
load(args[1])
fev <- fev_data[, c("USUBJID", "AVISIT", "ARMCD", "RACE", "SEX", "FEV1_BL", "FEV1", "VISITN")]
write.csv(fev, "lmm_bayes/data/fev_trial.csv", row.names = FALSE, na = "")

library(nlme)
library(emmeans)
fit <- gls(FEV1 ~ RACE + SEX + ARMCD * AVISIT + FEV1_BL,
           correlation = corSymm(form = ~ VISITN | USUBJID),
           weights = varIdent(form = ~ 1 | AVISIT),
           data = fev, na.action = na.omit, method = "REML")
options(digits = 10)
print(summary(fit)$tTable)
print(getVarCov(fit, individual = "PT2"))
cs <- corMatrix(fit$modelStruct$corStruct)[["PT2"]]
print(cs)
sds <- sigma(fit) * c(1, coef(fit$modelStruct$varStruct, unconstrained = FALSE))
print(sds)
em <- emmeans(fit, ~ ARMCD | AVISIT, mode = "df.error")
print(em)
print(pairs(em, reverse = TRUE))

# Reference estimates for tests/validation/test_student_recovery.py: maximum likelihood
# fits of the simulated data sets by glmmTMB (Student-t residuals, t_family()) and lme4
# (Gaussian). Write the data first (from the repository root):
#   PYTHONPATH=. python -c "import sys; sys.path[:0] = ['tests', 'tests/validation']; \
#     from test_student_recovery import outlier_data, t_residual_data; \
#     outlier_data().to_csv('outliers.csv', index=False); \
#     t_residual_data().to_csv('t_residuals.csv', index=False)"
# then: Rscript scripts/student_reference.R outliers.csv t_residuals.csv
suppressMessages({library(glmmTMB); library(lme4)})
for (path in commandArgs(trailingOnly = TRUE)) {
  d <- read.csv(path)
  t_fit <- glmmTMB(y ~ x + (1 | subject), data = d, family = t_family())
  gaussian_fit <- lmer(y ~ x + (1 | subject), data = d, REML = FALSE)
  cat(path, "\n")
  cat(sprintf("glmmTMB t: intercept %.4f, slope %.4f, sigma %.4f, df %.4f, sd(subject) %.4f\n",
              fixef(t_fit)$cond[1], fixef(t_fit)$cond[2], sigma(t_fit), family_params(t_fit),
              attr(VarCorr(t_fit)$cond$subject, "stddev")))
  cat(sprintf("lme4 ML:    intercept %.4f, slope %.4f, sigma %.4f\n",
              fixef(gaussian_fit)[1], fixef(gaussian_fit)[2], sigma(gaussian_fit)))
}

# lme4 reference estimates for tests/validation/test_weights_reference.py: observation
# weights (lmer, glmer), an observation-level random effect (Elston et al. 2001's grouse
# ticks) and an offset. Run from the repository root:
#   Rscript scripts/weights_olre_reference.R
suppressPackageStartupMessages(library(lme4))
show <- function(label, m) {
  cat("#", label, "\n")
  print(fixef(m), digits = 6)
  print(as.data.frame(VarCorr(m))[, c("grp", "var1", "var2", "sdcor")], digits = 6)
}

# precision weights: Var(e_i) = sigma^2 / w_i
sleep <- transform(sleepstudy, w = 1 + Days %% 3)
show("lmer weights", lmer(Reaction ~ Days + (Days | Subject), data = sleep, weights = w,
                          REML = FALSE))
cat("# lmer without weights, sigma:",
    sigma(lmer(Reaction ~ Days + (Days | Subject), data = sleepstudy, REML = FALSE)), "\n")

# prior weights on each row's Poisson log-likelihood
ticks <- transform(grouseticks, w = c(1, 2, 0.5)[as.integer(YEAR)])
show("glmer weights", glmer(TICKS ~ YEAR + cHEIGHT + (1 | BROOD), family = poisson,
                            data = ticks, weights = w))

# an observation-level random effect, one level of INDEX per chick
show("glmer OLRE", glmer(TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX),
                         family = poisson, data = grouseticks))

# an offset
show("glmer offset", glmer(TICKS ~ YEAR + offset(log(HEIGHT)) + (1 | BROOD),
                           family = poisson, data = grouseticks))
cat("lme4", as.character(packageVersion("lme4")), "\n")

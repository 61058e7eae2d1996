"""The posterior's vocabulary (lmm_bayes.names): the order and spelling documented there."""

from lmm_bayes import names


def test_public_keeps_the_documented_variables_in_the_documented_order():
    present = ["b_item", "z_subject", "alpha", "sd_item", "corr_subject", "chol_subject",
               "b_subject", "phi", "beta_slopes", "sd_subject", "sd_other", "beta", "sigma"]
    # beta, the scalars as in SCALARS (sigma, sigma_beta, phi, alpha), then per factor in the
    # order given sd, corr, b; internal variables and factors not asked for are left out
    assert names.public(["subject", "item"], present) == [
        "beta", "sigma", "phi", "alpha", "sd_subject", "corr_subject", "b_subject",
        "sd_item", "b_item"]


def test_public_puts_rescor_after_the_scalars_and_before_the_blocks():
    present = ["b_id", "rescor", "chol_residual", "sd_id", "sigma", "beta"]
    assert names.public(["id"], present) == ["beta", "sigma", "rescor", "sd_id", "b_id"]


def test_a_factor_spells_its_variables_dims_and_prior_keys():
    assert (names.sd("Subject"), names.correlation("Subject"), names.effects("Subject")) == (
        "sd_Subject", "corr_Subject", "b_Subject")
    assert names.coords("Subject", ["308", "309"], ["(Intercept)", "Days"]) == {
        "Subject__level": ["308", "309"], "Subject__term": ["(Intercept)", "Days"],
        "Subject__pair": ["(Intercept).Days"]}
    assert names.sd_key("Subject", "Days") == "sd_Subject__Days"


def test_observed_names_the_response_and_multivariate_patterns():
    assert names.observed() == "y"
    assert names.observed("il6") == "y__il6"
    assert names.observed("depression", "il6") == "y__depression__il6"


def test_group_variable_tells_the_per_factor_variables_from_the_others():
    kinds = [names.group_variable(n) for n in
             ["sd_batch:cask", "corr_Subject", "b_Subject", "beta", "beta_slopes",
              "sigma_beta", "z_Subject", "sd", "b_"]]
    assert kinds == ["sd", "corr", "b", None, None, None, None, None, None]


def test_pairs_run_along_the_upper_triangle_row_by_row():
    """brms's order: cor_g__a__b, cor_g__a__c, cor_g__b__c."""
    assert names.pair_positions(3) == ([0, 0, 1], [1, 2, 2])
    assert names.pair_labels(["(Intercept)", "x", "z"]) == [
        "(Intercept).x", "(Intercept).z", "x.z"]
    assert names.pair_variables(["corr_batch:cask", "rescor", "sd_g", "sigma"]) == {
        "corr_batch:cask": "batch:cask__pair", "rescor": "outcome__pair"}

"""Joint models of a longitudinal marker and the time to an event (Henderson, Diggle &
Dobson 2000; Rizopoulos 2012, *Joint Models for Longitudinal and Time-to-Event Data*).

The stages, each a module: :mod:`.spec` (the formulas and options, no data), :mod:`.design`
(the marker's design at the quadrature nodes, event times, survival covariates),
:mod:`.hazard` (the hazard and its integral, written once for numpy and PyTensor),
:mod:`.model` (the PyMC model), :mod:`.predict` (dynamic prediction), :mod:`.checks`
(each individual's log-likelihood, for LOO), :mod:`.api`
(:class:`~lmm_bayes.JointModel` and its fit).
"""

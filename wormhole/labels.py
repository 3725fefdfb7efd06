"""The names the book gives its methods, in one place.

The fair fight's grids (:func:`wormhole.tuning.standard_grids`) are keyed by these names, the
results page (:mod:`wormhole.report`) looks them up, and a chapter that names a method otherwise
is not judged as that method.
"""

MAML = "MAML"
WORMHOLE = "Wormhole"
#: Wormhole meta-learned from near the seam (w₀ = 0.1, a meta-learned α_w): the package-default comparisons
WORMHOLE_SEAM = "Wormhole-seam"
LEARNED_SCALE = "learned scale"
LEARNED_STEP = "learned step"

#: the ablations that explain a Wormhole win without the wormhole
ABLATIONS = (LEARNED_SCALE, LEARNED_STEP)
#: the methods of a fair fight, in the order of the grids
TUNED = (MAML, WORMHOLE, *ABLATIONS)
#: the candidates of a package-default comparison
WORMHOLE_VARIANTS = (WORMHOLE, WORMHOLE_SEAM)
#: the baselines the conflict claims are judged against: a learned output scale changes the gradients' geometry
CONFLICT_BASELINES = (MAML, LEARNED_SCALE)

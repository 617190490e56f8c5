"""The one registry of published laws, with their sources, for prediction and planning without a fit of one's own.

``chinchilla`` (the default wherever a law is optional) is Hoffmann et al.'s Approach 3 as printed;
``chinchilla-sardana`` keeps the printed E, A, B with α 0.336, β 0.283, the Chinchilla constants that reproduce
Sardana et al. 2023 (arXiv:2401.00448) to four digits (70B on 1T tokens → loss 1.9473).
"""

from __future__ import annotations

from scalinglab.errors import InputError
from scalinglab.laws.data_constrained import DataConstrained
from scalinglab.laws.forms import Chinchilla, KaplanJoint, Law

_HOFFMANN = Chinchilla(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
PUBLISHED: dict[str, tuple[Law, str]] = {
    "chinchilla": (_HOFFMANN, "Hoffmann et al. 2022 (arXiv:2203.15556) Sec. 3.3, Approach 3, as printed "
                              "(= hoffmann2022)"),
    "hoffmann2022": (_HOFFMANN, "Hoffmann et al. 2022 (arXiv:2203.15556) Sec. 3.3, Approach 3, as printed"),
    "hoffmann2022-tex": (Chinchilla(E=1.69337, A=406.401, B=410.723, alpha=0.33917084, beta=0.2849083),
                         "Hoffmann et al. 2022, unrounded values from the TeX source (as used by Besiroglu et al.)"),
    "chinchilla-sardana": (Chinchilla(E=1.69, A=406.4, B=410.7, alpha=0.336, beta=0.283),
                           "Hoffmann et al. 2022's E, A, B with α 0.336, β 0.283 as used by Sardana et al. 2023 "
                           "(arXiv:2401.00448)"),
    "besiroglu2024": (Chinchilla(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658),
                      "Besiroglu et al. 2024 (arXiv:2404.10102) Table 1, refit of Chinchilla's data"),
    "kaplan2020": (KaplanJoint(alpha_N=0.076, alpha_D=0.103, N_c=6.4e13, D_c=1.8e13),
                   "Kaplan et al. 2020 (arXiv:2001.08361) Table 2, L(N, D); N non-embedding"),
    "muennighoff2023": (DataConstrained.published(),
                        "Muennighoff et al. 2023 (arXiv:2305.16264) Eq. 5 fit on C4 (datablations repository)"),
}
DEFAULT_LAW = "chinchilla"


def published_law(name: str = DEFAULT_LAW) -> Law:
    try:
        return PUBLISHED[str(name).strip().lower()][0]
    except KeyError:
        raise InputError(f"unknown published law '{name}' (choose from {', '.join(PUBLISHED)})") from None

"""Satisfaction metrics computed from ``survey_responses`` (METRICS.md, "Satisfaction").

Every metric here measures what *clients* say, so only responses with
``respondent_side == "client"`` count: IT's self-assessment answers would otherwise inflate
the scores, and they have their own use in ``perception_gap``. Responses are assigned to
the period they were submitted in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import polars as pl

from cxpipe.config import MetricSettings
from cxpipe.metrics.aggregate import concat_results, mean, ratio, summarise
from cxpipe.metrics.base import MetricContext, MetricInfo, Polarity, metric
from cxpipe.schemas import PROXIES

_DEFAULT_PROXY_WEIGHTS: Final[dict[str, float]] = MetricSettings().model_dump()["proxy_weights"]
_PROXY_CATALOG: Final = {
    "timeliness": ("Timeliness", "whether work was delivered when it was promised"),
    "communication": ("Communication", "whether clients were kept informed"),
    "responsiveness": ("Responsiveness", "whether IT responded when things changed"),
    "cost_transparency": ("Cost transparency", "whether the cost was what was promised"),
    "accessibility": ("Accessibility", "whether clients could reach the team when needed"),
}
"""Title and what the proxy asks, for the catalog entries of the ``cx_<proxy>`` metrics."""


def client_responses(survey_responses: pl.LazyFrame) -> pl.LazyFrame:
    """The responses given by clients (IT self-assessments left out)."""
    return survey_responses.filter(pl.col("respondent_side") == "client")


def rescaled(rating: pl.Expr) -> pl.Expr:
    """A 1–5 rating on the 0–100 scale: (r − 1) / 4 × 100, so 1 → 0, 3 → 50, 5 → 100."""
    return (rating.cast(pl.Float64) - 1.0) / 4.0 * 100.0


def proxy_weights(settings: Mapping[str, Any]) -> dict[str, float]:
    """The weight of each proxy; a proxy the config does not name weighs 1.0.

    METRICS.md says the weights are "equal by default", so naming only the proxies you want
    to emphasise must not silently drop the others from the rating.
    """
    configured: Mapping[str, Any] = settings.get("proxy_weights", _DEFAULT_PROXY_WEIGHTS)
    return {proxy: float(configured.get(proxy, 1.0)) for proxy in PROXIES}


def response_rating(weights: Mapping[str, float]) -> pl.Expr:
    """Per response, the weighted mean of the proxy ratings it has, on the 1–5 scale.

    A proxy the respondent skipped adds neither to the weighted sum nor to the weights, so
    the mean is over the proxies present. Null when no weighted proxy is present (the
    response then does not count).
    """
    weighted_sum = pl.sum_horizontal(
        [(pl.col(proxy).cast(pl.Float64) * weights[proxy]).fill_null(0.0) for proxy in PROXIES]
    )
    weight_total = pl.sum_horizontal(
        [
            pl.when(pl.col(proxy).is_not_null()).then(pl.lit(weights[proxy])).otherwise(0.0)
            for proxy in PROXIES
        ]
    )
    return pl.when(weight_total > 0).then(weighted_sum / weight_total)


@metric(
    name="csat_pct",
    title="CSAT (top-two-box)",
    description=(
        "Share of client responses with a satisfaction score that rated 4 or 5 on the 1–5 scale."
    ),
    unit="%",
    polarity=Polarity.HIGHER_IS_BETTER,
    inputs=("survey_responses",),
)
def csat_pct(ctx: MetricContext, survey_responses: pl.LazyFrame) -> pl.LazyFrame:
    """Responses with ``csat ≥ 4`` ÷ responses with a ``csat`` × 100, by ``submitted_at``."""
    scored = client_responses(survey_responses).filter(pl.col("csat").is_not_null())
    return ratio(
        scored,
        metric="csat_pct",
        at="submitted_at",
        grain=ctx.grain,
        hit=pl.col("csat") >= 4,
    )


@metric(
    name="nps",
    title="Net Promoter Score",
    description=(
        "Percentage of promoters (9–10) minus percentage of detractors (0–6) among client "
        "responses with a likelihood-to-recommend score."
    ),
    unit="nps",
    polarity=Polarity.HIGHER_IS_BETTER,
    inputs=("survey_responses",),
    also_emits=(
        MetricInfo(
            name="nps_moe",
            title="NPS margin of error (95 %)",
            description=(
                "Half-width of the 95 % confidence interval of the NPS, in NPS points, so a "
                "change smaller than it is not read as real."
            ),
            unit="nps",
            polarity=Polarity.NEUTRAL,
        ),
    ),
)
def nps(ctx: MetricContext, survey_responses: pl.LazyFrame) -> pl.LazyFrame:
    """NPS and its 95 % margin of error, by ``submitted_at``.

    The NPS row carries promoters − detractors and the scored responses, so Σnum ÷ Σden × 100
    re-aggregates. The margin of error is a spread, which does not add up, so it carries no
    numerator; it is clipped at 0 so rounding can never put a negative under the root.
    """
    scored = client_responses(survey_responses).filter(pl.col("nps_score").is_not_null())
    n = pl.len().cast(pl.Float64)
    promoters = (pl.col("nps_score") >= 9).cast(pl.Float64).sum()
    detractors = (pl.col("nps_score") <= 6).cast(pl.Float64).sum()
    p, d = promoters / n, detractors / n
    moe = 1.96 * ((p + d - (p - d) ** 2).clip(lower_bound=0.0) / n).sqrt() * 100.0
    return concat_results(
        [
            summarise(
                scored,
                metric="nps",
                at="submitted_at",
                grain=ctx.grain,
                value=(promoters - detractors) / n * 100.0,
                numerator=promoters - detractors,
                denominator=n,
            ),
            summarise(scored, metric="nps_moe", at="submitted_at", grain=ctx.grain, value=moe),
        ]
    )


@metric(
    name="client_experience_rating",
    title="Client Experience Rating",
    description=(
        "Mean over client responses of the weighted mean of the proxy ratings each gives "
        "(timeliness, communication, responsiveness, cost transparency, accessibility), "
        "rescaled to 0–100."
    ),
    unit="0-100",
    polarity=Polarity.HIGHER_IS_BETTER,
    inputs=("survey_responses",),
    also_emits=tuple(
        MetricInfo(
            name=f"cx_{proxy}",
            title=f"{_PROXY_CATALOG[proxy][0]} rating",
            description=(
                f"How clients rate {_PROXY_CATALOG[proxy][1]}: the mean 1–5 rating "
                "rescaled to 0–100."
            ),
            unit="0-100",
            polarity=Polarity.HIGHER_IS_BETTER,
        )
        for proxy in PROXIES
    ),
)
def client_experience_rating(ctx: MetricContext, survey_responses: pl.LazyFrame) -> pl.LazyFrame:
    """The rating and each proxy's own ``cx_<proxy>``, by ``submitted_at``.

    Rescaling is linear, so rescaling each response's weighted mean equals the weighted mean
    of rescaled proxies; numerator is Σ rescaled values and denominator the responses that
    count, so BI tools can re-aggregate.
    """
    responses = client_responses(survey_responses)
    parts = [
        mean(
            responses,
            metric="client_experience_rating",
            at="submitted_at",
            grain=ctx.grain,
            x=rescaled(response_rating(proxy_weights(ctx.settings))),
        )
    ]
    parts.extend(
        mean(
            responses,
            metric=f"cx_{proxy}",
            at="submitted_at",
            grain=ctx.grain,
            x=rescaled(pl.col(proxy)),
        )
        for proxy in PROXIES
    )
    return concat_results(parts)

"""Satisfaction metrics computed from ``survey_responses`` (METRICS.md, "Satisfaction").

Every metric here measures what *clients* say, so only responses with
``respondent_side == "client"`` count: IT's self-assessment answers would otherwise inflate
the scores. They have their own use in ``perception_gap``, the one metric that reads both
sides. Responses are assigned to the period they were submitted in; invitations (for the
response rate) to the period they were sent in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import polars as pl

from cxpipe.config import MetricSettings
from cxpipe.metrics.aggregate import (
    concat_results,
    exact_sum,
    finish,
    mean,
    period_start,
    ratio,
    summarise,
    with_all_clients,
)
from cxpipe.metrics.base import MetricContext, MetricInfo, MetricSpec, Polarity, metric
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


# --- means on the answer's own scale -----------------------------------------------------


@metric(
    name="csat_mean",
    title="CSAT (mean)",
    description="Mean satisfaction score of client responses on the 1–5 scale.",
    unit="1-5",
    polarity=Polarity.HIGHER_IS_BETTER,
    inputs=("survey_responses",),
)
def csat_mean(ctx: MetricContext, survey_responses: pl.LazyFrame) -> pl.LazyFrame:
    """Mean ``csat`` over client responses that have one, by ``submitted_at``."""
    return mean(
        client_responses(survey_responses),
        metric="csat_mean",
        at="submitted_at",
        grain=ctx.grain,
        x=pl.col("csat"),
    )


@metric(
    name="ces_mean",
    title="Customer effort score (mean)",
    description=(
        "Mean customer-effort score of client responses on the 1–7 scale; lower means less effort."
    ),
    unit="1-7",
    polarity=Polarity.LOWER_IS_BETTER,
    inputs=("survey_responses",),
)
def ces_mean(ctx: MetricContext, survey_responses: pl.LazyFrame) -> pl.LazyFrame:
    """Mean ``ces`` over client responses that have one, by ``submitted_at``."""
    return mean(
        client_responses(survey_responses),
        metric="ces_mean",
        at="submitted_at",
        grain=ctx.grain,
        x=pl.col("ces"),
    )


@metric(
    name="service_relevance",
    title="Service relevance",
    description=(
        "How well the services offered fit the client's needs and priorities: the mean "
        "relevance rating of client responses, rescaled from 1–5 to 0–100."
    ),
    unit="0-100",
    polarity=Polarity.HIGHER_IS_BETTER,
    inputs=("survey_responses",),
)
def service_relevance(ctx: MetricContext, survey_responses: pl.LazyFrame) -> pl.LazyFrame:
    """Mean rescaled ``relevance`` over client responses that rated it."""
    return mean(
        client_responses(survey_responses),
        metric="service_relevance",
        at="submitted_at",
        grain=ctx.grain,
        x=rescaled(pl.col("relevance")),
    )


# --- response rate -----------------------------------------------------------------------

SELF_ASSESSMENT: Final = "self_assessment"
"""The survey kind IT answers about itself: neither its invitations nor its answers are
part of the clients' response rate."""


@metric(
    name="survey_response_rate_pct",
    title="Survey response rate",
    description=(
        "Client responses submitted in the period ÷ client survey invitations sent in the "
        "period × 100, per client with invitations, overall and per survey kind (IT "
        "self-assessments left out)."
    ),
    unit="%",
    polarity=Polarity.HIGHER_IS_BETTER,
    inputs=("survey_responses", "survey_invitations"),
)
def survey_response_rate_pct(
    ctx: MetricContext, survey_responses: pl.LazyFrame, survey_invitations: pl.LazyFrame
) -> pl.LazyFrame:
    """Responses ÷ invitations × 100, per client and period, unsegmented and per kind.

    Responses do not name the invitation they answer, so the two sides are matched by client
    and period (and survey kind for the ``survey_kind=<kind>`` segments): client responses
    (not ``self_assessment``) by ``submitted_at`` against invitations (not
    ``self_assessment``) by ``sent_at``. A client and period without invitations has no
    denominator: no row, and its responses are left out of the all-clients row too (the
    source did not provide their invitations), so the all-clients row is the sum of the
    per-client rows. numerator = responses, denominator = sample_size = invitations.
    """
    answered = client_responses(survey_responses).filter(pl.col("survey_kind") != SELF_ASSESSMENT)
    invited = survey_invitations.filter(pl.col("survey_kind") != SELF_ASSESSMENT)
    stacked = pl.concat(
        [
            answered.select(
                "client_id",
                "survey_kind",
                _at=pl.col("submitted_at"),
                _responses=pl.lit(1, pl.Int64),
                _invitations=pl.lit(0, pl.Int64),
            ),
            invited.select(
                "client_id",
                "survey_kind",
                _at=pl.col("sent_at"),
                _responses=pl.lit(0, pl.Int64),
                _invitations=pl.lit(1, pl.Int64),
            ),
        ],
        how="vertical",
    ).with_columns(_period_start=period_start("_at", ctx.grain))
    counts = ["_responses", "_invitations"]
    parts = []
    for by in (["_period_start"], ["_period_start", "survey_kind"]):
        cells = (
            stacked.filter(pl.col("_period_start").is_not_null())
            .group_by(*by, "client_id")
            .agg(pl.col(counts).sum())
            .filter(pl.col("_invitations") > 0)
        )
        segment = (
            pl.format("survey_kind={}", pl.col("survey_kind"))
            if "survey_kind" in by
            else pl.lit(None, pl.String)
        )
        rows = with_all_clients(cells, by=by, sums=counts).select(
            "_period_start",
            "client_id",
            _segment=segment,
            value=pl.col("_responses") / pl.col("_invitations") * 100.0,
            numerator=pl.col("_responses"),
            denominator=pl.col("_invitations"),
            sample_size=pl.col("_invitations"),
        )
        parts.append(finish(rows, metric="survey_response_rate_pct", grain=ctx.grain))
    return concat_results(parts)


# --- the five horizons -------------------------------------------------------------------


def horizon_score(weights: Mapping[str, float]) -> pl.Expr:
    """A response's score on the 0–100 scale for ``horizon_satisfaction``.

    Its Client Experience Rating (the weighted proxy mean rescaled) when it has a weighted
    proxy rating; otherwise, when it has a CSAT, its top-two-box contribution to
    ``csat_pct`` (100 for a CSAT of 4 or 5, else 0); otherwise null (it does not count).
    Both are 0–100 and their mean over responses is a mean of per-response values, so the
    horizon's numerator and denominator re-aggregate like every other rating.
    """
    top_two_box = (pl.col("csat") >= 4).cast(pl.Float64) * 100.0
    return pl.coalesce(rescaled(response_rating(weights)), top_two_box)


@metric(
    name="horizon_satisfaction",
    title="Satisfaction per horizon",
    description=(
        "Client Experience Rating (a response without proxy ratings counts with its CSAT "
        "top-two-box instead) per respondent level: company, business user, technology "
        "organisation, technology team and key individual."
    ),
    unit="0-100",
    polarity=Polarity.HIGHER_IS_BETTER,
    inputs=("survey_responses",),
    also_emits=(
        MetricInfo(
            name="weakest_horizon_score",
            title="Weakest horizon",
            description=(
                "The lowest horizon_satisfaction among the respondent levels that have "
                "responses in the period."
            ),
            unit="0-100",
            polarity=Polarity.HIGHER_IS_BETTER,
        ),
        MetricInfo(
            name="horizon_coverage",
            title="Horizons covered",
            description=(
                "How many of the five respondent levels have responses that count for "
                "horizon_satisfaction in the period (0–5)."
            ),
            unit="count",
            polarity=Polarity.HIGHER_IS_BETTER,
        ),
    ),
)
def horizon_satisfaction(ctx: MetricContext, survey_responses: pl.LazyFrame) -> pl.LazyFrame:
    """Per level, segment ``respondent_level=<level>``; then the minimum and the count.

    Client responses without a ``respondent_level`` count for no horizon. The weakest score
    and the coverage are taken over the horizon rows of the same period and client (or of
    all clients together, over the all-clients horizon rows), so both carry no numerator;
    their sample size is the responses behind all the horizons, which adds up over clients.
    """
    per_level = mean(
        client_responses(survey_responses),
        metric="horizon_satisfaction",
        at="submitted_at",
        grain=ctx.grain,
        x=horizon_score(proxy_weights(ctx.settings)),
        segment_by="respondent_level",
    )
    over_levels = per_level.group_by("period_start", "client_id").agg(
        _weakest=pl.col("value").min(),
        _coverage=pl.len(),
        sample_size=pl.col("sample_size").sum(),
    )

    def shaped(name: str, value: str) -> pl.LazyFrame:
        return finish(
            over_levels.select(
                "client_id",
                "sample_size",
                _period_start=pl.col("period_start"),
                _segment=pl.lit(None, pl.String),
                value=pl.col(value).cast(pl.Float64),
                numerator=pl.lit(None, pl.Float64),
                denominator=pl.lit(None, pl.Float64),
            ),
            metric=name,
            grain=ctx.grain,
        )

    return concat_results(
        [
            per_level,
            shaped("weakest_horizon_score", "_weakest"),
            shaped("horizon_coverage", "_coverage"),
        ]
    )


# --- perception gap ----------------------------------------------------------------------


@metric(
    name="perception_gap",
    title="Perception gap (IT minus clients)",
    description=(
        "Mean rating IT gives itself in self-assessments minus the mean rating clients give, "
        "on the 0–100 scale, per proxy and overall (the weighted mean of the proxy gaps), "
        "paired per client and period; positive means IT rates itself higher than its "
        "clients do."
    ),
    unit="points",
    polarity=Polarity.LOWER_IS_BETTER,
    inputs=("survey_responses",),
)
def perception_gap(ctx: MetricContext, survey_responses: pl.LazyFrame) -> pl.LazyFrame:
    """IT's mean rescaled proxy rating minus the clients', paired per client and period.

    Ratings are unpivoted to one row per (response, proxy). A *cell* is a period, client and
    proxy; it is paired when both IT (``respondent_side = it``) and the client
    (``respondent_side = client``) rated that proxy in it, and only paired cells count.
    Per proxy (segment ``proxy=<name>``): IT's mean minus the client's mean in the cell;
    for all clients, the same two means pooled over the paired cells of every client.
    Overall (segment null): the mean of the row's proxy gaps weighted by ``proxy_weights``
    (proxies weighing 0 left out), so a different mix of proxies on the two sides does not
    pass for a gap. A difference of two means does not re-aggregate as Σ numerator ÷
    Σ denominator, so it carries none; the sample size (the responses behind the value)
    adds up over clients.
    """
    weights = proxy_weights(ctx.settings)
    weight = pl.col("_proxy").replace_strict(weights, return_dtype=pl.Float64)
    ratings = (
        survey_responses.filter(pl.col("respondent_side").is_in(["it", "client"]))
        .with_columns(_period_start=period_start("submitted_at", ctx.grain))
        .filter(pl.col("_period_start").is_not_null())
        .unpivot(
            on=list(PROXIES),
            index=["response_id", "client_id", "respondent_side", "_period_start"],
            variable_name="_proxy",
            value_name="_rating",
        )
        .filter(pl.col("_rating").is_not_null())
        .with_columns(_rating=rescaled(pl.col("_rating")), _it=pl.col("respondent_side") == "it")
    )
    it, clients = pl.col("_it"), ~pl.col("_it")
    cell = ["_period_start", "client_id", "_proxy"]
    counts = ["_it_sum", "_it_n", "_client_sum", "_client_n"]
    paired = (
        ratings.group_by(cell)
        .agg(
            _it_sum=pl.col("_rating").filter(it).sum(),
            _it_n=it.cast(pl.Int64).sum(),
            _client_sum=pl.col("_rating").filter(clients).sum(),
            _client_n=clients.cast(pl.Int64).sum(),
        )
        .filter((pl.col("_it_n") > 0) & (pl.col("_client_n") > 0))
    )
    gaps = with_all_clients(paired, by=["_period_start", "_proxy"], sums=counts).with_columns(
        _gap=pl.col("_it_sum") / pl.col("_it_n") - pl.col("_client_sum") / pl.col("_client_n"),
        _weight=weight,
    )
    no_ratio = {"numerator": pl.lit(None, pl.Float64), "denominator": pl.lit(None, pl.Float64)}
    per_proxy = gaps.select(
        "_period_start",
        "client_id",
        _segment=pl.format("proxy={}", pl.col("_proxy")),
        value=pl.col("_gap"),
        sample_size=pl.col("_it_n") + pl.col("_client_n"),
        **no_ratio,
    )
    overall_values = (
        gaps.filter(pl.col("_weight") > 0)
        .group_by("_period_start", "client_id")
        .agg(value=exact_sum(pl.col("_gap") * pl.col("_weight")) / exact_sum(pl.col("_weight")))
    )
    # The responses behind an overall gap: those with a rating in a paired cell of a proxy
    # that weighs something. A response belongs to one client, so the counts add up.
    behind = (
        ratings.join(paired.select(cell), on=cell, how="semi")
        .filter(weight > 0)
        .group_by("_period_start", "client_id")
        .agg(_responses=pl.col("response_id").n_unique())
    )
    responses_behind = with_all_clients(behind, by=["_period_start"], sums=["_responses"])
    overall = overall_values.join(
        responses_behind, on=["_period_start", "client_id"], how="left", nulls_equal=True
    ).select(
        "_period_start",
        "client_id",
        "value",
        _segment=pl.lit(None, pl.String),
        sample_size=pl.col("_responses"),
        **no_ratio,
    )
    return concat_results(
        [
            finish(per_proxy, metric="perception_gap", grain=ctx.grain),
            finish(overall, metric="perception_gap", grain=ctx.grain),
        ]
    )


# --- lost time ---------------------------------------------------------------------------


@metric(
    name="lost_time_hours",
    title="Work time lost (total)",
    description=(
        "Total work time client respondents estimate they lost to the issue, in hours, over "
        "the responses that give an estimate."
    ),
    unit="hours",
    polarity=Polarity.LOWER_IS_BETTER,
    inputs=("survey_responses",),
    also_emits=(
        MetricInfo(
            name="lost_time_hours_mean",
            title="Work time lost per response",
            description=(
                "Mean work time lost per client response that gives an estimate, in hours."
            ),
            unit="hours",
            polarity=Polarity.LOWER_IS_BETTER,
        ),
    ),
)
def lost_time_hours(ctx: MetricContext, survey_responses: pl.LazyFrame) -> pl.LazyFrame:
    """Σ and mean of ``lost_time_minutes`` ÷ 60 over client responses with an estimate.

    An estimate of 0 minutes counts (it says no time was lost); a missing or NaN one does
    not. The total is a sum and carries no numerator (it adds up itself); the mean carries
    numerator Σ hours and denominator the responses with an estimate.
    """
    # × (1 / 60), not ÷ 60: the same bits in any batch (cxpipe.metrics.aggregate).
    hours = pl.col("lost_time_minutes").cast(pl.Float64).fill_nan(None) * (1 / 60)
    estimated = client_responses(survey_responses).with_columns(_hours=hours)
    estimated = estimated.filter(pl.col("_hours").is_not_null())
    return concat_results(
        [
            summarise(
                estimated,
                metric="lost_time_hours",
                at="submitted_at",
                grain=ctx.grain,
                value=exact_sum(pl.col("_hours")),
            ),
            mean(
                estimated,
                metric="lost_time_hours_mean",
                at="submitted_at",
                grain=ctx.grain,
                x=pl.col("_hours"),
            ),
        ]
    )


# --- proxy priority ----------------------------------------------------------------------


@metric(
    name="proxy_priority",
    title="Proxy priority",
    description=(
        "Per proxy: how much clients say it matters (mean importance rescaled to 0–100) × "
        "how far their rating of it falls short (100 − cx_<proxy>) ÷ 100; the proxy with the "
        "highest value is the one to work on first."
    ),
    unit="0-100",
    polarity=Polarity.LOWER_IS_BETTER,
    inputs=("survey_responses",),
)
def proxy_priority(ctx: MetricContext, survey_responses: pl.LazyFrame) -> pl.LazyFrame:
    """importance × (100 − satisfaction) ÷ 100 per proxy, segment ``proxy=<name>``.

    Per client, period and proxy: importance is the mean of ``importance_<proxy>`` rescaled
    to 0–100 over the client responses that rated it, and satisfaction is ``cx_<proxy>``,
    the mean rescaled rating over the client responses that rated the proxy; each mean is
    over its own responses, and a client missing either has no row. The all-clients row
    pools both means over the clients that have a row, so importance and satisfaction come
    from the same clients and its sample size is the sum of theirs. A product of two means
    does not re-aggregate, so there is no numerator; sample_size is the client responses
    that rated the importance, the proxy or both.
    """
    responses = client_responses(survey_responses).with_columns(
        _period_start=period_start("submitted_at", ctx.grain)
    )
    ratings = pl.concat(
        [
            responses.select(
                "_period_start",
                "client_id",
                _proxy=pl.lit(proxy, pl.String),
                _importance=rescaled(pl.col(f"importance_{proxy}")),
                _satisfaction=rescaled(pl.col(proxy)),
            )
            for proxy in PROXIES
        ],
        how="vertical",
    ).filter(
        pl.col("_period_start").is_not_null()
        & (pl.col("_importance").is_not_null() | pl.col("_satisfaction").is_not_null())
    )
    counts = ["_importance_sum", "_importance_n", "_satisfaction_sum", "_satisfaction_n", "_n"]
    cells = (
        ratings.group_by("_period_start", "client_id", "_proxy")
        .agg(
            _importance_sum=pl.col("_importance").sum(),
            _importance_n=pl.col("_importance").count(),
            _satisfaction_sum=pl.col("_satisfaction").sum(),
            _satisfaction_n=pl.col("_satisfaction").count(),
            _n=pl.len(),
        )
        .filter((pl.col("_importance_n") > 0) & (pl.col("_satisfaction_n") > 0))
    )
    importance = pl.col("_importance_sum") / pl.col("_importance_n")
    satisfaction = pl.col("_satisfaction_sum") / pl.col("_satisfaction_n")
    rows = with_all_clients(cells, by=["_period_start", "_proxy"], sums=counts).select(
        "_period_start",
        "client_id",
        _segment=pl.format("proxy={}", pl.col("_proxy")),
        value=importance * (100.0 - satisfaction) * (1 / 100),  # not ÷: see lost_time_hours
        numerator=pl.lit(None, pl.Float64),
        denominator=pl.lit(None, pl.Float64),
        sample_size=pl.col("_n"),
    )
    return finish(rows, metric="proxy_priority", grain=ctx.grain)


SURVEY_METRICS: tuple[MetricSpec, ...] = (
    csat_pct,
    csat_mean,
    nps,
    ces_mean,
    client_experience_rating,
    service_relevance,
    survey_response_rate_pct,
    horizon_satisfaction,
    perception_gap,
    lost_time_hours,
    proxy_priority,
)
"""This module's metrics, in catalog order (composed into ``CORE_METRICS``)."""

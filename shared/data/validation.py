"""Schema validation: every problem with a file at once, each naming column, rule, count and examples.

`validate_housing` returns a report and, when the report is clean, the same rows with their proper types
(dates as datetimes, numbers as floats), which is what every later stage reads.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from shared import schema
from shared.errors import BadInput

EXAMPLES = 5
# No count, price, share or population in HouseTS comes near a trillion; beyond it a value is corrupt, and
# would overflow the model's float32 inputs.
CEILING = 1e12
# Bounds on values that can only be wrong outside them (ratios, shares); counts and prices only need >= 0.
COLUMN_OF = {col: i for i, col in enumerate(schema.NUMERIC)}  # a numeric column's place in the value block
RANGES = {
    "sold_above_list": (0.0, 1.0),
    "off_market_in_two_weeks": (0.0, 1.0),
    "avg_sale_to_list": (0.0, 5.0),
    "zipcode": (0, 99999),
}


class Problem(BaseModel):
    column: str | None = Field(description="the column at fault; None for whole-file problems")
    rule: str
    message: str
    count: int = 0
    examples: list[dict[str, Any]] = Field(default_factory=list, description="a few offending rows")


class ValidationReport(BaseModel):
    source: str
    rows: int
    columns: int
    problems: list[Problem] = Field(default_factory=list)
    missing_values: dict[str, int] = Field(
        default_factory=dict, description="empty cells per numeric column (in CSV: the MISSING_TOKENS); not a problem")

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        lines = [f"{self.source}: {len(self.problems)} problem(s) in {self.rows} rows"]
        for p in self.problems:
            example = ""
            if p.examples and p.column in p.examples[0]:
                example = f" (e.g. line {p.examples[0]['row']}: {p.examples[0][p.column]!r})"
            lines.append(f"  - [{p.rule}] {p.column or '(file)'}: {p.message}{example}")
        return "\n".join(lines)

    @classmethod
    def of_file(cls, source: str, rule: str, message: str) -> ValidationReport:
        """A report of one problem with the file as a whole (unreadable, no rows in a split, ...)."""
        return cls(source=source, rows=0, columns=0, problems=[Problem(column=None, rule=rule, message=message)])


class InvalidInput(BadInput, ValueError):
    """The input breaks the schema; `report` says how."""

    def __init__(self, report: ValidationReport):
        super().__init__(report.summary())
        self.report = report


def _examples(frame: pd.DataFrame, mask: pd.Series, column: str) -> list[dict[str, Any]]:
    """A few offending rows as {row, column: value, ...} with JSON-safe values."""
    shown = [c for c in (schema.ZIPCODE, schema.DATE, column) if c in frame.columns]
    rows = frame.loc[mask, shown].head(EXAMPLES)
    out = []
    for idx, row in rows.iterrows():
        item = {"row": int(idx) + 2}  # +2: a header line, and humans count from 1
        item.update({col: json_safe(value) for col, value in row.items()})
        out.append(item)
    return out


def json_safe(value: Any) -> Any:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)  # "inf": JSON has no infinity, and the report must still be written
    return value if isinstance(value, (bool, int, float, str)) else str(value)


class _Checks:
    """Collects problems into a report, each with its count and a few example rows."""

    def __init__(self, frame: pd.DataFrame, report: ValidationReport):
        self.frame, self.report = frame, report

    def add(self, column: str | None, rule: str, message: str, count: int = 0) -> None:
        self.report.problems.append(Problem(column=column, rule=rule, message=message, count=count))

    def flag(self, bad: np.ndarray, column: str, rule: str, what: str) -> None:
        if bad.any():
            count = int(bad.sum())
            self.report.problems.append(Problem(column=column, rule=rule, count=count, message=f"{count} {what}",
                                                examples=_examples(self.frame, bad, column)))


def validate_housing(frame: pd.DataFrame, source: str = "input",
                     for_prediction: bool = False) -> tuple[ValidationReport, pd.DataFrame]:
    """Check a HouseTS-shaped frame; return (report, typed frame). For prediction the target is optional
    and only the columns the features are keyed on are required.

    Checks run on numpy arrays over whole blocks of columns: the same code validates an 884k-row file and
    a one-row API request, and for the latter pandas' per-column overhead would dominate."""
    report = ValidationReport(source=source, rows=len(frame), columns=frame.shape[1])
    checks = _Checks(frame, report)
    required = [schema.DATE, schema.ZIPCODE, schema.CITY_FULL] if for_prediction else schema.COLUMNS
    if not _has_the_columns(checks, required):
        return report, frame
    block = _numeric_block(checks)
    dates = _dates(checks, for_prediction)
    typed = _typed_frame(frame, block, dates)
    by_column = block.T  # C-contiguous, one row per column
    _value_rules(checks, by_column)
    if not for_prediction:
        _training_rules(checks, typed, dates, by_column)
    return report, typed.reset_index(drop=True)


def _has_the_columns(checks: _Checks, required: list[str]) -> bool:
    """Rows to read, no column twice, every required column: else nothing else can be checked."""
    frame = checks.frame
    if frame.empty:
        checks.add(None, "non_empty", "the file has no data rows")
        return False
    for col in sorted({str(c) for c in frame.columns[frame.columns.duplicated()]}):
        checks.add(col, "duplicate_column", f"column {col!r} appears more than once")
    for col in (c for c in required if c not in frame.columns):
        checks.add(col, "missing_column", f"required column {col!r} is missing")
    return not checks.report.problems


def _numeric_block(checks: _Checks) -> np.ndarray:
    """Every numeric column as float64 (NaN where absent or not a number), rows x columns."""
    frame = checks.frame
    dtypes = dict(zip(frame.columns, frame.dtypes))  # a dict: looking up a Series of dtypes 80 times cost a request more
    # Column-major (a transposed C array: numpy fills that fast), since it is filled column by column.
    block = np.full((len(schema.NUMERIC), len(frame)), np.nan).T
    for i, col in enumerate(schema.NUMERIC):
        if col not in dtypes:
            continue
        raw = frame[col]
        if pd.api.types.is_bool_dtype(dtypes[col]):
            checks.flag(raw.notna().to_numpy(), col, "not_numeric", "value(s) are true/false, not numbers")
        elif pd.api.types.is_numeric_dtype(dtypes[col]):
            block[:, i] = raw.to_numpy(dtype="float64", na_value=np.nan)
        else:
            block[:, i] = pd.to_numeric(raw, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
            checks.flag(np.isnan(block[:, i]) & raw.notna().to_numpy(), col, "not_numeric", "value(s) are not numbers")
    return block


def parse_dates(raw: pd.Series) -> pd.Series:
    """Dates as the schema takes them (YYYY-MM-DD); NaT where a value is not one."""
    return pd.to_datetime(raw.astype("str"), format="%Y-%m-%d", errors="coerce")


def _dates(checks: _Checks, for_prediction: bool) -> pd.Series:
    raw = checks.frame[schema.DATE]
    header_again = (raw.astype("str") == schema.DATE).to_numpy()
    checks.flag(header_again, schema.DATE, "repeated_header", "row(s) repeat the header line (files joined together?)")
    dates = parse_dates(raw)
    checks.flag(dates.isna().to_numpy() & raw.notna().to_numpy() & ~header_again, schema.DATE,
                "unparseable_date", "value(s) are not dates in YYYY-MM-DD form")
    if not for_prediction:  # a prediction for such a date is answered with a warning (unusual_dates)
        checks.flag(unusual_dates(dates), schema.DATE, "out_of_range",
                    f"date(s) outside {schema.FIRST_DATE} to {schema.LAST_DATE}")
    return dates


def _typed_frame(frame: pd.DataFrame, block: np.ndarray, dates: pd.Series) -> pd.DataFrame:
    typed = pd.DataFrame(block, columns=schema.NUMERIC, index=frame.index, copy=False)
    # Inserted at their places in file order (left to right), so the numbers are never copied to reorder.
    for col in sorted([schema.DATE, *schema.TEXT], key=schema.COLUMNS.index):
        if col == schema.DATE:
            values = dates
        else:
            raw = frame[col] if col in frame.columns else pd.Series(pd.NA, index=frame.index, dtype="str")
            values = raw.astype("str").where(raw.notna())
        typed.insert(schema.COLUMNS.index(col), col, values)
    return typed


def _value_rules(checks: _Checks, by_column: np.ndarray) -> None:
    """Signs, ceilings, ranges, required values; and the count of missing values per column."""
    # Checked one column at a time: whole-block temporaries would cost more (hundreds of MB at full size).
    with np.errstate(invalid="ignore"):  # NaN compares as False, which is what is meant
        for i, col in enumerate(schema.NUMERIC):
            if col in schema.NON_NEGATIVE:
                checks.flag(by_column[i] < 0, col, "negative", "value(s) are negative")
            checks.flag(np.abs(by_column[i]) > CEILING, col, "implausible", f"value(s) beyond {CEILING:.0e}")
        # A fractional zip code would be rounded into another zip's history: refused, not rounded.
        zips = by_column[COLUMN_OF[schema.ZIPCODE]]
        checks.flag(np.isfinite(zips) & (zips != np.round(zips)), schema.ZIPCODE, "not_whole",
                    "zip code(s) are not whole numbers")
        # log(price) is what the model learns: a price must be positive wherever one is given.
        checks.flag(by_column[COLUMN_OF[schema.TARGET]] == 0, schema.TARGET, "not_positive", "price(s) are zero")
        for col, (low, high) in RANGES.items():
            values = by_column[COLUMN_OF[col]]
            checks.flag((values < low) | (values > high), col, "out_of_range", f"value(s) outside [{low}, {high}]")
    present = checks.frame.columns
    checks.report.missing_values = {
        col: n for i, col in enumerate(schema.NUMERIC)
        if col in present and (n := int(np.isnan(by_column[i]).sum()) - _not_numbers(checks.report, col))}
    absent = checks.frame[[schema.DATE, schema.ZIPCODE, schema.CITY_FULL]].isna().to_numpy()
    for j, col in enumerate((schema.DATE, schema.ZIPCODE, schema.CITY_FULL)):
        checks.flag(absent[:, j], col, "missing_value", f"row(s) have no {col}")


def _training_rules(checks: _Checks, typed: pd.DataFrame, dates: pd.Series, by_column: np.ndarray) -> None:
    """What only training needs: some target, years that match dates, one row per (zipcode, date)."""
    if typed[schema.TARGET].isna().all():
        checks.add(schema.TARGET, "all_missing", "the target has no values at all: nothing to train on", len(typed))
    years = dates.dt.year.to_numpy(dtype="float64", na_value=np.nan)
    stated = by_column[COLUMN_OF["year"]]
    checks.flag(~np.isnan(stated) & ~np.isnan(years) & (stated != years), "year", "year_matches_date",
                "row(s) have a year that differs from their date")
    dup = typed.duplicated(subset=schema.KEY, keep="first") & typed[schema.KEY].notna().all(axis=1)
    checks.flag(dup.to_numpy(), ",".join(schema.KEY), "duplicate_key", "row(s) repeat a (zipcode, date) pair already seen")


def unusual_dates(dates: pd.Series) -> np.ndarray:
    """Dates outside FIRST_DATE..LAST_DATE: a typo (year 1, 9999) rather than a month the model knows."""
    values = dates.to_numpy(dtype="datetime64[us]")  # NaT compares false, as in pandas
    return (values < np.datetime64(schema.FIRST_DATE)) | (values > np.datetime64(schema.LAST_DATE))


def _not_numbers(report: ValidationReport, column: str) -> int:
    return sum(p.count for p in report.problems if p.column == column and p.rule == "not_numeric")


# Where a US metro can be (HouseTS covers US zip codes): Puerto Rico and Hawaii to Alaska's north coast.
US_BOX = {"lat": (17.0, 72.0), "lng": (-180.0, -64.0)}


def validate_metros(frame: pd.DataFrame, source: str = "metros") -> tuple[ValidationReport, pd.DataFrame]:
    report = ValidationReport(source=source, rows=len(frame), columns=frame.shape[1])
    missing = [c for c in schema.METROS_COLUMNS if c not in frame.columns]
    for col in missing:
        report.problems.append(Problem(column=col, rule="missing_column", message=f"required column {col!r} is missing"))
    if frame.empty:
        report.problems.append(Problem(column=None, rule="non_empty", message="the metros table has no rows"))
    if report.problems:
        return report, frame
    names = frame["metro_full"]
    blank = names.isna() | (names.astype("str").str.strip() == "")
    if blank.any():  # a metro without a name joins nothing (training failed on it minutes later)
        report.problems.append(Problem(column="metro_full", rule="missing_value", count=int(blank.sum()),
                                       examples=_examples(frame, blank, "metro_full"),
                                       message=f"{int(blank.sum())} row(s) have no metro name"))
    typed = pd.DataFrame({"metro_full": names.astype("str")})
    outside = {}
    for col, (low, high) in US_BOX.items():
        typed[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
        outside[col] = typed[col].isna() | (typed[col] < low) | (typed[col] > high)
    (lat_low, lat_high), (lng_low, lng_high) = US_BOX.values()
    swapped = (typed["lng"].between(lat_low, lat_high) & typed["lat"].between(lng_low, lng_high)).to_numpy()
    if swapped.any():  # both in the other's range: a table whose columns were exchanged
        report.problems.append(Problem(
            column="lat,lng", rule="swapped", count=int(swapped.sum()), examples=_examples(frame, swapped, "lat"),
            message=f"{int(swapped.sum())} row(s) look like lat and lng swapped: lat is north-south ({lat_low} to "
                    f"{lat_high} for US metros), lng east-west ({lng_low} to {lng_high})"))
    for col, (low, high) in US_BOX.items():
        bad = outside[col].to_numpy() & ~swapped
        if bad.any():
            report.problems.append(Problem(column=col, rule="out_of_range", count=int(bad.sum()),
                                           examples=_examples(frame, bad, col),
                                           message=f"{int(bad.sum())} value(s) missing or outside [{low}, {high}] "
                                                   "(the US, Alaska, Hawaii and Puerto Rico)"))
    return report, typed


def ensure_valid(result: tuple[ValidationReport, pd.DataFrame]) -> pd.DataFrame:
    report, frame = result
    if not report.ok:
        raise InvalidInput(report)
    return frame

"""Synthetic demo data: a Limburg cohort written the way its source systems export it."""

from ttp.demo.generate import CohortSummary, generate_cohort

__all__ = ["CohortSummary", "generate_cohort"]

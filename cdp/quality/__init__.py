"""Data-quality gates: Great Expectations suites for landing files, SQL checks in the warehouse, their
thresholds (gates.yml) and the one results table every gate writes to (ops.quality_results)."""

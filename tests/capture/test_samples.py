"""The sample table (capture.samples) that sample_pcaps/, the goldens and the analyzer's tests are built on."""

from capture.samples import SAMPLES, missing_fields
from tests.analysis.bundles import NAMES
from tests.conftest import SAMPLES as SAMPLES_DIR


def test_sample_table_keeps_the_names_the_analyzer_tests_read_and_valid_overrides():
    assert set(NAMES) <= set(SAMPLES), "the analyzer's tests read these bundles by name"
    assert {name: missing_fields(sample) for name, sample in SAMPLES.items() if missing_fields(sample)} == {}


def test_samples_readme_lists_every_sample():
    readme = (SAMPLES_DIR / "README.md").read_text()
    assert [name for name in SAMPLES if f"[{name}]({name}/)" not in readme] == []

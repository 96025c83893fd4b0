"""`python -m analysis.schema`: both schemas as markdown, as the README shows them."""

from analysis.schema.columns import markdown_table
from analysis.schema.connections import CONNECTION_COLUMNS
from analysis.schema.timeline import TIMELINE_COLUMNS

print("## The timeline\n")
print(markdown_table(TIMELINE_COLUMNS))
print("\n## The connection table\n")
print(markdown_table(CONNECTION_COLUMNS))

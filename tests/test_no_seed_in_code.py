"""Everything specific to one business comes from its data and settings: the code names none of the seed's."""

import re

from appliance.settings import ROOT

# The seed's company, its products, documents and ID formats, and the hacks for how one recording was misheard.
SEED_WORDS = ("TechCorp", "TechBook", "TechDock", "TechCare", "Workspace", "ORD", "TRK", "laptop", "Basic plan",
              "Professional", "Enterprise", "product catalog", "refund policy", "pricing plans", "mobile app",
              "Kolkata", "Cadillac", "Ward", "what's at", "Salesforce", "+91", "98765")


def test_no_seed_name_in_the_appliance_code():
    found = []
    for path in sorted((ROOT / "appliance").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for word in SEED_WORDS:
            for match in re.finditer(rf"(?<![A-Za-z]){re.escape(word)}(?![A-Za-z])", text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(ROOT)}:{line}: {word}")
    assert not found, "\n".join(found)

"""Inline-SVG charts: long level names and full-length bars keep their labels and values readable."""

import re

from linkage.svg import diverging_bars


def test_long_labels_widen_the_label_column_and_values_stay_clear_of_them():
    name = "first_or_roepnaam (m 0.332, u 0.0142)"
    out = diverging_bars([(name, -15.8), ("exact", 6.9)], "weights")
    found = re.findall(r'<text x="([\d.]+)"[^>]*text-anchor="(\w+)"[^>]*>([^<]*)<', out)
    texts = [(float(x), anchor, s) for x, anchor, s in found]
    label_end = next(x for x, _, s in texts if s == name)
    value_x = next(x for x, anchor, s in texts if s == "-15.8")
    assert label_end >= len(name) * 6  # the column holds the whole label
    assert value_x - 5 * 6.5 > label_end  # the value of the longest bar ends right of the label column
    width = float(re.search(r'width="([\d.]+)"', out).group(1))
    assert max(x for x, _, s in texts if s == "+6.9") + 4 * 6.5 < width

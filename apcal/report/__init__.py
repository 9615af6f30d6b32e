"""What a run built, for people and programs: the JSON report, the HTML report, previews, units.

Above the engines: reports describe finished jobs and masters, whichever engine wrote them.
"""

"""The commented starter recipe ``apcal init`` writes: valid as written, every section explained."""

STARTER_RECIPE = """\
# yaml-language-server: $schema={schema}
# An apcal recipe: where tonight's calibration frames are, how they group, and where masters go.
# Check it with `apcal validate {name}`, preview with `apcal plan {name}`, build with `apcal run {name}`.
# `apcal schema` prints every key with its description and default.
apcal: 1
name: my-rig

# Variables: ${{NAME}} from here, ${{env:NAME}} from the environment (${{env:NAME:-fallback}}).
vars:
  data: ${{env:APCAL_DATA:-./frames}}

# Folders searched for bias, dark, flat and flat-dark frames (lights are ignored).
inputs:
  - path: ${{data}}
    recursive: true
    include: ["*.fit", "*.fits", "*.fts", "*.xisf"]
    exclude: ["**/_stash/**"]

# Frames stack together only when these keywords agree (shape and binning always do).
grouping:
  bias: [INSTRUME, SET-TEMP, GAIN, OFFSET, READOUTM]
  dark: [INSTRUME, SET-TEMP, GAIN, OFFSET, READOUTM, EXPOSURE]
  flat: [INSTRUME, SET-TEMP, GAIN, OFFSET, READOUTM, DATE-OBS, FILTER]
  min_frames: 3

# Existing masters that calibrate flats (uncomment when you have a library).
library:
  # bias: /path/to/masters/bias
  # dark: /path/to/masters/dark
  use_new_masters: true   # masters built in this run may calibrate this run's flats

output:
  dir: ./out              # master/, calibrated/<group>/ and logs/ below it
  format: xisf            # xisf | fits

engine:
  name: native            # native (no other software) | pixinsight | siril
  memory_limit: 1GiB
  # pixinsight:
  #   binary: /opt/PixInsight/bin/PixInsight
  #   instance_id: 123
  #   force_exit: true
  #   script_only: false
  # siril:
  #   binary: siril-cli
  #   threads: 0

# The observing night (DATE-OBS grouping) rolls over at local noon of the site.
headers:
  timezone: UTC           # e.g. America/New_York

# WBPP's defaults; override per frame type as needed.
integration:
  bias: {{combination: average, rejection: auto, sigma_low: 4.0, sigma_high: 3.0}}
  dark: {{combination: average, rejection: auto, sigma_low: 4.0, sigma_high: 3.0}}
  flat: {{normalization: multiplicative, rejection_normalization: equalize_fluxes}}
"""

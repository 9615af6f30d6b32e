// A stand-in for the PJSR objects apcal's scripts use, strict where PixInsight would be, for contract tests.
//
//   node pjsr_standin.js <script.js> <records.json>
//
// Process instances (ImageIntegration, ImageCalibration) are Proxies built from
// /work/shared/pixinsight/process-parameters.json (or $PJSR_PARAMETERS): assigning an unknown or read-only
// parameter, a value of the wrong JS type, an integer out of range, an enumeration value not in `values`
// or a table row that is not a complete array in `columnOrder` throws. Reading an unknown property throws.
// Enumeration constants are <Process>.prototype.<ElementId>. executeGlobal() records a deep copy of every
// parameter (enumerations by element id) and, for ImageIntegration, opens a window; ImageCalibration
// writes its calibrated files. FileFormatInstance writes a small valid XISF or FITS file holding the
// keywords, and records them. File works on the real filesystem. The records are written to
// <records.json> when the script ends, even when it throws.
//
// Failure injection: $PJSR_STANDIN_FAIL_MATCH=<text> makes executeGlobal() return false for any instance
// whose input paths contain <text>.

"use strict";

const fs = require("fs");
const path = require("path");
const vm = require("vm");

const [scriptPath, recordsPath] = process.argv.slice(2);
if (!scriptPath || !recordsPath) {
  process.stderr.write("usage: node pjsr_standin.js <script.js> <records.json>\n");
  process.exit(2);
}
const SPEC = JSON.parse(
  fs.readFileSync(process.env.PJSR_PARAMETERS || "/work/shared/pixinsight/process-parameters.json", "utf8"),
);
const FAIL_MATCH = process.env.PJSR_STANDIN_FAIL_MATCH || "";

const records = { executions: [], writes: [], moves: [], removes: [], openWindows: [], log: null, error: null };

// ---------------------------------------------------------------------------------------------------
// Parameter checking

const INT_TYPES = new Set(["Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64"]);

function fail(where, message) {
  throw new TypeError(`${where}: ${message}`);
}

function checkScalar(where, spec, value) {
  const type = spec.type;
  if (type === "Boolean") {
    if (typeof value !== "boolean") fail(where, `expected a Boolean, got ${JSON.stringify(value)}`);
  } else if (type === "String") {
    if (typeof value !== "string") fail(where, `expected a String, got ${JSON.stringify(value)}`);
  } else if (INT_TYPES.has(type)) {
    if (typeof value !== "number" || !Number.isInteger(value)) fail(where, `expected an integer, got ${value}`);
    if (type.startsWith("U") && value < 0) fail(where, `expected an unsigned integer, got ${value}`);
    checkRange(where, spec, value);
  } else if (type === "Float" || type === "Double") {
    if (typeof value !== "number" || !Number.isFinite(value)) fail(where, `expected a finite number, got ${value}`);
    checkRange(where, spec, value);
  } else if (type === "Enumeration") {
    const allowed = Object.values(spec.values);
    if (typeof value !== "number" || !allowed.includes(value))
      fail(where, `expected one of ${JSON.stringify(spec.values)}, got ${value}`);
  } else {
    fail(where, `unsupported parameter type ${type}`);
  }
}

function checkRange(where, spec, value) {
  if (spec.min !== undefined && value < spec.min) fail(where, `${value} is below the minimum ${spec.min}`);
  if (spec.max !== undefined && value > spec.max) fail(where, `${value} is above the maximum ${spec.max}`);
}

function checkValue(where, spec, value) {
  if (spec.type !== "Table") return checkScalar(where, spec, value);
  if (!Array.isArray(value)) fail(where, "a table must be an Array of rows");
  value.forEach((row, r) => {
    if (!Array.isArray(row)) fail(`${where}[${r}]`, "a row must be an Array");
    if (row.length !== spec.columnOrder.length)
      fail(`${where}[${r}]`, `a row must have ${spec.columnOrder.length} columns (${spec.columnOrder}), got ${row.length}`);
    spec.columnOrder.forEach((column, c) => checkScalar(`${where}[${r}].${column}`, spec.columns[column], row[c]));
  });
}

function defaultOf(spec) {
  return spec.type === "Table" ? [] : spec.default;
}

function clone(value) {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

function enumName(spec, value) {
  for (const [name, v] of Object.entries(spec.values)) if (v === value) return name;
  return value;
}

// ---------------------------------------------------------------------------------------------------
// Windows

const windows = new Map();
let windowCounter = 0;

class StandinImage {
  constructor(width, height) {
    this.width = width;
    this.height = height;
  }
}

class StandinWindow {
  constructor(id, keywords) {
    this.id = id;
    this.keywords = keywords;
    this.isNull = false;
    this.mainView = { id, image: new StandinImage(2, 2) };
    windows.set(id, this);
  }
  forceClose() {
    if (!windows.has(this.id)) throw new Error(`window ${this.id} closed twice`);
    windows.delete(this.id);
  }
}

const NULL_WINDOW = Object.freeze({ isNull: true });

function openWindow(prefix, keywords) {
  windowCounter += 1;
  return new StandinWindow(`${prefix}${windowCounter}`, keywords);
}

// ---------------------------------------------------------------------------------------------------
// Processes

function inputPaths(processId, params) {
  const table = processId === "ImageIntegration" ? params.images : params.targetFrames;
  return (table || []).filter((row) => row[0]).map((row) => row[1]);
}

function runIntegration(self) {
  const paths = inputPaths("ImageIntegration", self.params);
  if (paths.length < 1) throw new Error("ImageIntegration: Cannot execute instance in the global context");
  for (const p of paths) if (!isFile(p)) throw new Error(`ImageIntegration: file not found: ${p}`);
  const keywords = [
    new FITSKeyword("IMAGETYP", "'Flat Frame'", "left by the integration, replaced by apcal's"),
    new FITSKeyword("HISTORY", "", "ImageIntegration.numberOfImages: " + paths.length),
  ];
  self.readOnly.integrationImageId = openWindow("integration", keywords).id;
  if (self.params.generateRejectionMaps) {
    self.readOnly.lowRejectionMapImageId = openWindow("rejection_low", []).id;
    self.readOnly.highRejectionMapImageId = openWindow("rejection_high", []).id;
  }
}

function runCalibration(self) {
  const p = self.params;
  const targets = inputPaths("ImageCalibration", p);
  if (targets.length < 1) throw new Error("ImageCalibration: no target frames");
  for (const [enabled, master] of [
    [p.masterBiasEnabled, p.masterBiasPath],
    [p.masterDarkEnabled, p.masterDarkPath],
    [p.masterFlatEnabled, p.masterFlatPath],
  ])
    if (enabled && !isFile(master)) throw new Error(`ImageCalibration: master not found: ${master}`);
  if (!isDirectory(p.outputDirectory)) throw new Error(`ImageCalibration: no output directory ${p.outputDirectory}`);
  const rows = [];
  targets.forEach((target, i) => {
    if (!isFile(target)) throw new Error(`ImageCalibration: file not found: ${target}`);
    const stem = path.basename(target, path.extname(target));
    const out = path.join(p.outputDirectory, p.outputPrefix + stem + p.outputPostfix + p.outputExtension);
    if (isFile(out) && !p.overwriteExistingFiles) throw new Error(`ImageCalibration: would overwrite ${out}`);
    writeXisf(out, [["IMAGETYP", "'Flat Frame'", ""]]);
    const row = [out];
    const columns = SPEC.processes.ImageCalibration.readOnly.outputData.columnOrder;
    for (let c = 1; c < columns.length; ++c) row.push(c === 1 ? (p.optimizeDarks ? 0.5 + i / 100 : 1) : 0);
    rows.push(row);
  });
  self.readOnly.outputData = rows;
}

const RUNNERS = { ImageIntegration: runIntegration, ImageCalibration: runCalibration };
const METHODS = new Set(["executeGlobal"]);
const HARMLESS = new Set(["constructor", "toString", "valueOf", "toJSON", "then"]);

function defineProcess(processId) {
  const spec = SPEC.processes[processId];
  const parameters = spec.parameters;
  const readOnly = spec.readOnly;

  function Process() {
    const self = { params: {}, readOnly: {} };
    for (const [id, p] of Object.entries(parameters)) self.params[id] = clone(defaultOf(p));
    for (const [id, p] of Object.entries(readOnly)) self.readOnly[id] = clone(defaultOf(p));
    const methods = {
      executeGlobal() {
        const record = { process: processId, params: {}, ok: true };
        for (const [id, p] of Object.entries(parameters))
          record.params[id] = p.type === "Enumeration" ? enumName(p, self.params[id]) : clone(self.params[id]);
        records.executions.push(record);
        if (FAIL_MATCH && inputPaths(processId, self.params).some((x) => x.includes(FAIL_MATCH))) {
          record.ok = false;
          return false;
        }
        RUNNERS[processId](self);
        return true;
      },
    };
    return new Proxy(Object.create(Process.prototype), {
      get(target, prop) {
        if (typeof prop === "symbol") return undefined;
        if (METHODS.has(prop)) return methods[prop];
        if (Object.prototype.hasOwnProperty.call(parameters, prop)) return clone(self.params[prop]);
        if (Object.prototype.hasOwnProperty.call(readOnly, prop)) return clone(self.readOnly[prop]);
        if (prop in Process.prototype || HARMLESS.has(prop)) return target[prop];
        throw new TypeError(`${processId}: no parameter or method '${prop}'`);
      },
      set(target, prop, value) {
        if (Object.prototype.hasOwnProperty.call(readOnly, prop))
          throw new TypeError(`${processId}.${String(prop)} is read-only`);
        if (!Object.prototype.hasOwnProperty.call(parameters, prop))
          throw new TypeError(`${processId}: unknown parameter '${String(prop)}'`);
        checkValue(`${processId}.${prop}`, parameters[prop], value);
        self.params[prop] = clone(value);
        return true;
      },
    });
  }
  // Enumeration constants; an element id used by two parameters with different values is left out.
  const constants = {};
  for (const p of Object.values(parameters))
    if (p.type === "Enumeration")
      for (const [name, value] of Object.entries(p.values))
        constants[name] = name in constants && constants[name] !== value ? null : value;
  for (const [name, value] of Object.entries(constants))
    if (value !== null) Object.defineProperty(Process.prototype, name, { value, enumerable: false });
  return Process;
}

const ImageIntegration = defineProcess("ImageIntegration");
const ImageCalibration = defineProcess("ImageCalibration");

// ---------------------------------------------------------------------------------------------------
// Files

function isFile(p) {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function isDirectory(p) {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function requireString(where, value) {
  if (typeof value !== "string") throw new TypeError(`${where}: expected a String, got ${typeof value}`);
}

function xmlEscape(text) {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")
    .replace(/\n/g, "&#10;").replace(/\r/g, "&#13;").replace(/\t/g, "&#9;");
}

// A minimal monolithic XISF 1.0 file: a 2x2 Float32 image attached after the header, with the keywords.
function writeXisf(file, keywords) {
  const data = Buffer.alloc(16);
  [0.25, 0.5, 0.75, 1.0].forEach((v, i) => data.writeFloatLE(v, 4 * i));
  const cards = keywords
    .map(([n, v, c]) => `<FITSKeyword name="${xmlEscape(n)}" value="${xmlEscape(v)}" comment="${xmlEscape(c)}"/>`)
    .join("");
  const build = (position) =>
    Buffer.from(
      '<?xml version="1.0" encoding="UTF-8"?>' +
        '<xisf version="1.0" xmlns="http://www.pixinsight.com/xisf">' +
        `<Image geometry="2:2:1" sampleFormat="Float32" bounds="0:1" colorSpace="Gray" location="attachment:${position}:16">` +
        cards +
        "</Image>" +
        '<Metadata><Property id="XISF:CreatorApplication" type="String">pjsr_standin</Property></Metadata>' +
        "</xisf>",
      "utf8",
    );
  let position = 0;
  let header = build(position);
  for (;;) {
    const start = 16 + header.length;
    const aligned = Math.ceil(start / 16) * 16;
    const next = build(aligned);
    if (next.length === header.length && aligned === position) break;
    header = next;
    position = aligned;
  }
  const prefix = Buffer.alloc(16);
  prefix.write("XISF0100", 0, "ascii");
  prefix.writeUInt32LE(header.length, 8);
  const padding = Buffer.alloc(position - 16 - header.length);
  fs.writeFileSync(file, Buffer.concat([prefix, header, padding, data]));
}

// A minimal FITS file: 2x2 BITPIX -32; string values that FITS cannot hold (non-ASCII) are dropped.
function writeFits(file, keywords) {
  const card = (text) => text.padEnd(80, " ").slice(0, 80);
  const cards = [
    card("SIMPLE  =                    T"),
    card("BITPIX  =                  -32"),
    card("NAXIS   =                    2"),
    card("NAXIS1  =                    2"),
    card("NAXIS2  =                    2"),
  ];
  for (const [n, v, c] of keywords) {
    if (!/^[\x20-\x7e]*$/.test(n + v + c)) continue;
    cards.push(card(n === "HISTORY" || n === "COMMENT" ? `${n.padEnd(8)}${c}` : `${n.padEnd(8)}= ${v} / ${c}`));
  }
  cards.push(card("END"));
  let header = cards.join("");
  header = header.padEnd(Math.ceil(header.length / 2880) * 2880, " ");
  const data = Buffer.alloc(2880);
  [0.25, 0.5, 0.75, 1.0].forEach((v, i) => data.writeFloatBE(v, 4 * i));
  fs.writeFileSync(file, Buffer.concat([Buffer.from(header, "ascii"), data]));
}

class ByteArray {
  constructor(text) {
    this.buffer = Buffer.from(text, "utf8");
  }
  get length() {
    return this.buffer.length;
  }
}

const File = {
  exists(p) {
    requireString("File.exists", p);
    return isFile(p);
  },
  directoryExists(p) {
    requireString("File.directoryExists", p);
    return isDirectory(p);
  },
  createDirectory(p, intermediate) {
    requireString("File.createDirectory", p);
    fs.mkdirSync(p, { recursive: intermediate === true });
  },
  remove(p) {
    requireString("File.remove", p);
    fs.unlinkSync(p);
    records.removes.push(p);
  },
  move(from, to) {
    requireString("File.move", from);
    requireString("File.move", to);
    if (isFile(to)) throw new Error(`File.move: ${to} exists`);
    fs.renameSync(from, to);
    records.moves.push([from, to]);
  },
  writeTextFile(p, text) {
    requireString("File.writeTextFile", p);
    requireString("File.writeTextFile text", text);
    fs.writeFileSync(p, text, "utf8");
  },
  writeFile(p, data) {
    requireString("File.writeFile", p);
    if (!(data instanceof ByteArray)) throw new TypeError("File.writeFile: expected a ByteArray");
    fs.writeFileSync(p, data.buffer);
  },
};

// ---------------------------------------------------------------------------------------------------
// Images, formats, keywords, console

class FITSKeyword {
  constructor(name, value, comment) {
    requireString("FITSKeyword name", name);
    requireString("FITSKeyword value", value);
    requireString("FITSKeyword comment", comment);
    this.name = name;
    this.value = value;
    this.comment = comment;
  }
}

class ImageDescription {
  constructor() {
    this.bitsPerSample = 16;
    this.ieeefpSampleFormat = false;
  }
}

const FORMATS = { ".xisf": "XISF", ".fits": "FITS", ".fit": "FITS", ".fts": "FITS" };

class FileFormat {
  constructor(extension, toRead, toWrite) {
    requireString("FileFormat extension", extension);
    if (typeof toRead !== "boolean" || typeof toWrite !== "boolean")
      throw new TypeError("FileFormat(extension, toRead:Boolean, toWrite:Boolean)");
    this.name = FORMATS[extension.toLowerCase()] || "";
    this.isNull = this.name === "";
    this.canStoreKeywords = true;
    this.canStoreImageProperties = this.name === "XISF";
    this.supportsViewProperties = this.name === "XISF";
  }
}

class FileFormatInstance {
  constructor(format) {
    if (!(format instanceof FileFormat)) throw new TypeError("FileFormatInstance(FileFormat)");
    this.format = format;
    this.isNull = format.isNull;
    this.path = null;
    this.options = null;
    this.keywords = [];
  }
  create(p, hints) {
    requireString("FileFormatInstance.create path", p);
    requireString("FileFormatInstance.create hints", hints);
    if (!isDirectory(path.dirname(p))) return false;
    this.path = p;
    return true;
  }
  setOptions(description) {
    if (!(description instanceof ImageDescription)) throw new TypeError("setOptions(ImageDescription)");
    this.options = { bitsPerSample: description.bitsPerSample, ieeefpSampleFormat: description.ieeefpSampleFormat };
    return true;
  }
  writeImage(image) {
    if (!(image instanceof StandinImage)) throw new TypeError("writeImage(Image)");
    if (this.path === null) throw new Error("writeImage before create");
    if (!Array.isArray(this.keywords) || !this.keywords.every((k) => k instanceof FITSKeyword))
      throw new TypeError("FileFormatInstance.keywords must be an Array of FITSKeyword");
    const keywords = this.keywords.map((k) => [k.name, k.value, k.comment]);
    (this.format.name === "XISF" ? writeXisf : writeFits)(this.path, keywords);
    records.writes.push({ path: this.path, format: this.format.name, options: this.options, keywords });
    return true;
  }
  close() {
    this.path = null;
  }
}

const ImageWindow = {
  windowById(id) {
    requireString("ImageWindow.windowById", id);
    return windows.get(id) || NULL_WINDOW;
  },
};

let logText = null;

function consoleWrite(text) {
  process.stdout.write(text);
  if (logText !== null) logText += text;
}

const pjsrConsole = {
  beginLog(...args) {
    if (args.length !== 0) throw new TypeError("console.beginLog() takes no arguments");
    logText = "";
  },
  endLog() {
    if (logText === null) throw new Error("console.endLog() without beginLog()");
    const captured = new ByteArray(logText);
    records.log = logText;
    logText = null;
    return captured;
  },
  write: (...values) => consoleWrite(values.join("")),
  writeln: (...values) => consoleWrite(values.join("") + "\n"),
  noteln: (...values) => consoleWrite(values.join("") + "\n"),
  warningln: (...values) => consoleWrite(values.join("") + "\n"),
  criticalln: (...values) => consoleWrite(values.join("") + "\n"),
  flush() {},
  show() {},
  hide() {},
};

// ---------------------------------------------------------------------------------------------------

const context = vm.createContext({
  ImageIntegration,
  ImageCalibration,
  ImageWindow,
  ImageDescription,
  FileFormat,
  FileFormatInstance,
  FITSKeyword,
  File,
  console: pjsrConsole,
  jsArguments: [],
});

let status = 0;
try {
  vm.runInContext(fs.readFileSync(scriptPath, "utf8"), context, { filename: scriptPath });
} catch (error) {
  records.error = String(error && error.stack ? error.stack : error);
  process.stderr.write(`pjsr_standin: the script threw: ${records.error}\n`);
  status = 1;
} finally {
  records.openWindows = Array.from(windows.keys());
  fs.writeFileSync(recordsPath, JSON.stringify(records, null, 1));
}
process.exit(status);

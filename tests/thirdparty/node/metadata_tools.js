// Validate the mock's $metadata documents with OASIS odata-csdl and convert DocMgmt's to
// OpenAPI with OASIS odata-openapi. Prints one JSON object on stdout:
//   {"findings": [...], "warnings": [...], "external_refs": [...], "paths": {path: {METHOD: [query options]}}}
// Usage: node metadata_tools.js DocMgmt.xml PTC.xml
"use strict";
const fs = require("node:fs");
const { xml2json } = require("odata-csdl");
const { csdl2openapi } = require("odata-openapi");

const [docmgmtFile, ptcFile] = process.argv.slice(2);
const findings = [];

function read(file) {
  const messages = [];
  let csdl = null;
  try {
    csdl = xml2json(fs.readFileSync(file, "utf8"), { messages });
  } catch (error) {
    messages.push(error);
  }
  for (const m of messages) {
    const at = m.parser ? `${m.parser.line}:${m.parser.column}` : "?";
    findings.push(`${file}:${at}: ${String(m.message).split("\n")[0]}`);
  }
  return csdl;
}

const docmgmt = read(docmgmtFile);
const ptc = read(ptcFile);
// The converter reads one document: bring the PTC schema (State's type) into DocMgmt's.
for (const [namespace, schema] of Object.entries(ptc)) {
  if (namespace.startsWith("$")) continue;
  docmgmt[namespace] = schema;
  for (const [uri, reference] of Object.entries(docmgmt.$Reference || {})) {
    reference.$Include = (reference.$Include || []).filter((i) => i.$Namespace !== namespace);
    if (reference.$Include.length === 0) delete docmgmt.$Reference[uri];
  }
}

const warnings = [];
const openapi = csdl2openapi(docmgmt, {
  messages: warnings,
  scheme: "http",
  host: "localhost",
  basePath: "/Windchill/servlet/odata/DocMgmt",
});
const ptcWarnings = [];
const ptcOpenapi = csdl2openapi(ptc, { messages: ptcWarnings, basePath: "/Windchill/servlet/odata/PTC" });

const externalRefs = [];
(function walk(node, at) {
  if (node && typeof node === "object") {
    if (typeof node.$ref === "string" && !node.$ref.startsWith("#")) externalRefs.push(`${at}: ${node.$ref}`);
    for (const [key, value] of Object.entries(node)) walk(value, `${at}/${key}`);
  }
})(openapi, "#");

function operations(document) {
  const paths = {};
  const parameters = (document.components && document.components.parameters) || {};
  for (const [path, item] of Object.entries(document.paths || {})) {
    paths[path] = {};
    for (const [method, operation] of Object.entries(item)) {
      if (method === "parameters") continue;
      paths[path][method.toUpperCase()] = (operation.parameters || [])
        .map((p) => (p.$ref ? parameters[p.$ref.split("/").pop()] : p))
        .filter((p) => p && p.in === "query")
        .map((p) => p.name);
    }
  }
  return paths;
}

process.stdout.write(
  JSON.stringify({
    findings,
    warnings: [...warnings, ...ptcWarnings],
    external_refs: externalRefs,
    paths: operations(openapi),
    ptc_paths: operations(ptcOpenapi),
  }),
);

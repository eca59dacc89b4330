// Parse an AsyncAPI document with the official parser and its Avro schema parser:
// `node deploy/asyncapi/check.js docs/asyncapi.json`. Prints every diagnostic of severity
// error and exits 1 when there is one; exits 0 with a one-line summary otherwise.
//
// The parser (3.x) checks the schemas of an AsyncAPI 3 document's non-default formats only
// when converting them, which accepts any type name; so every Multi Format Schema Object is
// also given to its format's validator (for Avro: avsc, through @asyncapi/avro-schema-parser).
'use strict';

const fs = require('fs');
const { Parser } = require('@asyncapi/parser');
const { AvroSchemaParser } = require('@asyncapi/avro-schema-parser');

const SEVERITY = ['error', 'warning', 'information', 'hint'];

function* multiFormatSchemas(node, path) {
  if (node === null || typeof node !== 'object') {
    return;
  }
  if (typeof node.schemaFormat === 'string' && 'schema' in node) {
    yield { path, schemaFormat: node.schemaFormat, schema: node.schema };
    return;
  }
  for (const [key, value] of Object.entries(node)) {
    yield* multiFormatSchemas(value, [...path, key]);
  }
}

async function formatErrors(raw) {
  const avro = AvroSchemaParser();
  const errors = [];
  for (const found of multiFormatSchemas(raw, [])) {
    const where = [...found.path, 'schema'];
    if (!avro.getMimeTypes().includes(found.schemaFormat)) {
      errors.push({ code: 'schema-format', path: where, message: `no validator for ${found.schemaFormat}` });
      continue;
    }
    for (const problem of await avro.validate({ data: found.schema, path: where })) {
      errors.push({ code: 'avro-schema', path: where, message: problem.message });
    }
  }
  return errors;
}

async function main(path) {
  const text = fs.readFileSync(path, 'utf8');
  const parser = new Parser();
  parser.registerSchemaParser(AvroSchemaParser());
  const { document, diagnostics } = await parser.parse(text, { source: path });
  const errors = [
    ...diagnostics.filter((d) => d.severity === 0),
    ...(await formatErrors(JSON.parse(text))),
  ];
  for (const d of errors) {
    console.error(`${path}: error ${d.code} at /${d.path.join('/')}: ${d.message}`);
  }
  if (errors.length > 0 || document === undefined) {
    return 1;
  }
  const counts = {};
  for (const d of diagnostics) {
    counts[SEVERITY[d.severity]] = (counts[SEVERITY[d.severity]] || 0) + 1;
  }
  console.log(
    `${path}: valid AsyncAPI ${document.version()}: ${document.channels().length} channels, ` +
      `${document.operations().length} operations, ${document.messages().length} messages; ` +
      `other diagnostics: ${JSON.stringify(counts)}`,
  );
  return 0;
}

if (process.argv.length !== 3) {
  console.error('usage: node check.js ASYNCAPI_FILE');
  process.exit(2);
}
main(process.argv[2]).then(
  (code) => process.exit(code),
  (error) => {
    console.error(`${process.argv[2]}: the parser failed: ${error.stack || error}`);
    process.exit(1);
  },
);

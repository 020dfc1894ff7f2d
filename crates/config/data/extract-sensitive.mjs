// Lists the config paths the reference OpenClaw marks sensitive (its schema's `sensitive` registry, its name
// patterns and its credential-bearing URL paths, as its Control UI receives them in `uiHints`):
//   cd <reference install>/npm/node_modules/openclaw && node extract-sensitive.mjs > sensitive-paths.txt
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const dist = join(process.cwd(), "dist");
const file = readdirSync(dist).find((name) => {
  if (!name.startsWith("schema-") || !name.endsWith(".mjs")) return false;
  return readFileSync(join(dist, name), "utf8").includes("function buildConfigSchemaCore(");
});
if (!file) throw new Error(`no schema module with buildConfigSchemaCore under ${dist}`);
const source = readFileSync(join(dist, file), "utf8");
const alias = source.match(/buildConfigSchemaCore as (\w+)/)?.[1];
if (!alias) throw new Error(`${file} does not export buildConfigSchemaCore`);
const schema = (await import(join(dist, file)))[alias]({});
const paths = Object.entries(schema.uiHints)
  .filter(([, hint]) => hint && hint.sensitive)
  .map(([path]) => path)
  .sort();
console.log(paths.join("\n"));

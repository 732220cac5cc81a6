// Lints the Dockerfile with dockerfile-utils (the linter of the VS Code Docker
// language server) and checks what the image must be: a multi-stage build
// whose final stage is distroless, non-root, exposing 9911, and a builder on
// the runtime's Debian release (the binary links glibc dynamically).
import { readFileSync } from "node:fs";
import { validate } from "dockerfile-utils";
import { DockerfileParser } from "dockerfile-ast";

const path = process.argv[2] ?? "Dockerfile";
const text = readFileSync(path, "utf8");
let failed = false;
const problem = (msg) => { failed = true; console.error(`FAIL: ${path}: ${msg}`); };

for (const d of validate(text)) {
  // severity 1 = error, 2 = warning: both fail
  if (d.severity <= 2) problem(`line ${d.range.start.line + 1}: ${d.message}`);
}

const df = DockerfileParser.parse(text);
const froms = df.getFROMs();
if (froms.length < 2) problem("not a multi-stage build");
const last = froms.at(-1);
const runtime = last?.getImage() ?? "";
if (!/^gcr\.io\/distroless\/cc-debian12:nonroot$/.test(runtime)) problem(`final stage is ${runtime}, want gcr.io/distroless/cc-debian12:nonroot`);
const builder = froms[0]?.getImage() ?? "";
if (!/^rust:[0-9.]+-bookworm$/.test(builder)) problem(`builder is ${builder}, want rust:<version>-bookworm (Debian 12, as the runtime)`);
const finalStage = df.getInstructions().filter((i) => i.getRange().start.line > last.getRange().start.line);
const kw = (k) => finalStage.filter((i) => i.getKeyword() === k).map((i) => i.getArgumentsContent());
const user = kw("USER").at(-1);
if (!user || /^(root|0)(:|$)/.test(user)) problem(`final stage USER is ${user}, want a non-root user`);
if (!kw("EXPOSE").includes("9911")) problem("final stage does not EXPOSE 9911");
if (kw("ENTRYPOINT").at(-1) !== '["/usr/local/bin/irsa-doctor"]') problem(`ENTRYPOINT is ${kw("ENTRYPOINT").at(-1)}`);
if (!df.getInstructions().some((i) => i.getKeyword() === "RUN" && /cargo build --release --locked/.test(i.getArgumentsContent() ?? ""))) problem("no `cargo build --release --locked`");
if (failed) process.exit(1);
console.log(`  ok  ${path}: lints clean (dockerfile-utils); ${froms.length} stages, ${builder} -> ${runtime}, USER ${user}, EXPOSE 9911`);

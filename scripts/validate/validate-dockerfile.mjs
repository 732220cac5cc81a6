// Lints the Dockerfile with dockerfile-utils (the linter of the VS Code Docker
// language server) and checks what the image must be: a multi-stage build in
// the official Rust image on Debian 12 whose builder runs image/rootfs, and a
// FROM scratch final stage, non-root, exposing 9911, that is the same as
// image/Containerfile (the one scripts/image builds and runs offline), so the
// proof there holds for what registries build; and that the build context and
// the builder get every file the build needs, workspace members included.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { validate } from "dockerfile-utils";
import { DockerfileParser } from "dockerfile-ast";

const path = process.argv[2] ?? "Dockerfile";
const containerfile = join(dirname(path), "image", "Containerfile");
const dockerignore = join(dirname(path), ".dockerignore");
let failed = false;
const problem = (msg) => { failed = true; console.error(`FAIL: ${path}: ${msg}`); };

function lint(file) {
  const text = readFileSync(file, "utf8");
  for (const d of validate(text)) {
    // severity 1 = error, 2 = warning: both fail
    if (d.severity <= 2) problem(`${file} line ${d.range.start.line + 1}: ${d.message}`);
  }
  return DockerfileParser.parse(text);
}

// The final stage's instructions after its FROM, as "KEYWORD flags args", whitespace collapsed.
function finalStage(df) {
  const last = df.getFROMs().at(-1);
  return df.getInstructions()
    .filter((i) => i.getRange().start.line > last.getRange().start.line)
    .map((i) => `${i.getKeyword()} ${i.getTextContent().replace(/\\\n/g, " ").trim().split(/\s+/).slice(1).join(" ")}`);
}

const df = lint(path);
const froms = df.getFROMs();
if (froms.length < 2) problem("not a multi-stage build");
const runtime = froms.at(-1)?.getImage() ?? "";
if (runtime !== "scratch") problem(`final stage is ${runtime}, want scratch (the root filesystem comes from image/rootfs)`);
const builder = froms[0]?.getImage() ?? "";
if (!/^rust:[0-9.]+-bookworm$/.test(builder)) problem(`builder is ${builder}, want rust:<version>-bookworm (Debian 12: image/rootfs uses dpkg)`);
const stage = finalStage(df);
const kw = (k) => stage.filter((i) => i.startsWith(`${k} `)).map((i) => i.slice(k.length + 1));
const user = kw("USER").at(-1);
if (user !== "65532:65532") problem(`final stage USER is ${user}, want 65532:65532 (nonroot, numeric)`);
if (!kw("EXPOSE").includes("9911")) problem("final stage does not EXPOSE 9911");
if (kw("ENTRYPOINT").at(-1) !== '["/usr/local/bin/irsa-doctor"]') problem(`ENTRYPOINT is ${kw("ENTRYPOINT").at(-1)}`);
if (kw("CMD").at(-1) !== '["serve"]') problem(`CMD is ${kw("CMD").at(-1)}`);
if (!kw("COPY").includes("--from=build /rootfs /")) problem("final stage does not COPY --from=build /rootfs /");
const runs = df.getInstructions().filter((i) => i.getKeyword() === "RUN").map((i) => i.getArgumentsContent() ?? "");
if (!runs.some((r) => /cargo build --release --locked/.test(r))) problem("no `cargo build --release --locked`");
if (!runs.some((r) => /image\/rootfs target\/release\/irsa-doctor \/rootfs/.test(r))) problem("no `image/rootfs target/release/irsa-doctor /rootfs`");
// What the build needs must reach the builder: COPYed, and let through .dockerignore
// (including every workspace member, wherever Cargo.toml puts them).
const cargoToml = readFileSync(join(dirname(path), "Cargo.toml"), "utf8");
const members = JSON.parse(cargoToml.match(/^members\s*=\s*(\[[^\]]*\])/m)?.[1] ?? "[]");
const copied = df.getInstructions().filter((i) => i.getKeyword() === "COPY")
  .flatMap((i) => (i.getArgumentsContent() ?? "").split(/\s+/).slice(0, -1)).map((a) => a.replace(/\/$/, ""));
const letThrough = readFileSync(dockerignore, "utf8").split("\n").filter((l) => l.startsWith("!")).map((l) => l.slice(1).replace(/\/$/, ""));
const covered = (list, p) => list.some((a) => p === a || p.startsWith(`${a}/`));
for (const need of ["Cargo.toml", "Cargo.lock", "src", "image/rootfs", ...members]) {
  if (!covered(copied, need)) problem(`the builder does not COPY ${need}`);
  if (!covered(letThrough, need)) problem(`${dockerignore} keeps ${need} out of the build context`);
}

// The same final stage as image/Containerfile, but for where rootfs/ comes from.
const cf = lint(containerfile);
if (cf.getFROMs().length !== 1 || cf.getFROMs()[0].getImage() !== "scratch") problem(`${containerfile} is not one FROM scratch stage`);
const same = (s) => s.map((i) => (i === "COPY --from=build /rootfs /" ? "COPY rootfs/ /" : i));
if (JSON.stringify(same(stage)) !== JSON.stringify(finalStage(cf))) {
  problem(`final stage differs from ${containerfile}:\n  ${same(stage).join("\n  ")}\nvs\n  ${finalStage(cf).join("\n  ")}`);
}
if (failed) process.exit(1);
console.log(`  ok  ${path}: lints clean (dockerfile-utils); ${froms.length} stages, ${builder} -> ${runtime}, USER ${user}, EXPOSE 9911`);
console.log(`  ok  its final stage is ${containerfile}'s (${stage.length} instructions), the one scripts/image builds and runs`);

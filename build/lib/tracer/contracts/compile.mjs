// Compiles TraceAnchor.sol with solcjs (npm `solc`) and prints {abi, bytecode, compiler} as JSON.
// `make contract` writes it to TraceAnchor.json; a test recompiles and compares.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const solc = require("solc");
const here = dirname(fileURLToPath(import.meta.url));
const input = {
  language: "Solidity",
  sources: { "TraceAnchor.sol": { content: readFileSync(join(here, "TraceAnchor.sol"), "utf8") } },
  settings: {
    evmVersion: "shanghai", // ganache 7 does not know later opcodes
    optimizer: { enabled: true, runs: 200 },
    metadata: { bytecodeHash: "none" }, // the bytecode then depends on the source only
    outputSelection: { "*": { TraceAnchor: ["abi", "evm.bytecode.object"] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (errors.length) {
  console.error(errors.map((e) => e.formattedMessage).join("\n"));
  process.exit(1);
}
const contract = output.contracts["TraceAnchor.sol"].TraceAnchor;
const artifact = {
  contractName: "TraceAnchor",
  compiler: `solc ${solc.version()}`,
  evmVersion: input.settings.evmVersion,
  abi: contract.abi,
  bytecode: "0x" + contract.evm.bytecode.object,
};
process.stdout.write(JSON.stringify(artifact, null, 2) + "\n");

import { readFileSync } from 'node:fs';
import { runCli } from './cli';

/** The ops CLI (`npm run ops -- --help`): commands in cli.ts, output in format.ts, the work in common/ops. */
runCli(process.argv.slice(2), process.env, {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  stdin: () => readFileSync(0, 'utf8'),
  tty: process.stderr.isTTY === true,
}).then(
  (code) => {
    process.exitCode = code;
    // Connections are closed by now; should anything still hold the event loop, do not hang a script on it.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (err) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);

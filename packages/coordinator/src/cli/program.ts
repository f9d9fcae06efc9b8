/**
 * The coordinator's command line: its commands and options, each calling the module that does the work.
 *   coordinator --gpus 0,1 --config configs/alexnet.yaml [--baseline] [--json]
 *   coordinator summary --config configs/alexnet.yaml [--json]
 *   coordinator report RUN_DIR
 *   coordinator export RUN_DIR --format tfjs|safetensors --out DIR
 *   coordinator predict --model DIR IMAGE...
 *   coordinator keys --out DIR [--towers N]
 *   coordinator --listen tcp://0.0.0.0:5555 --keys DIR --config …   (towers on other hosts)
 */
import { BACKENDS, buildNet, loadConfig, planSplit } from '@alexnet/core';
import { Command, InvalidArgumentError, Option } from 'commander';
import { EXPORT_FORMATS, type ExportFormat, exportCommand, predictCommand } from '../export/index.js';
import { formatSummary, summarize } from '../plan/summary.js';
import { writeReport } from '../report/index.js';
import { keysHelp, makeKeys } from '../towers/keys.js';
import { TOWER_WAIT_S } from '../towers/listen.js';
import { nonNegative, positive, seconds } from './args.js';
import { type MainOptions, runMain } from './main.js';

const devices = (v: string): string[] => {
  const ids = v.split(',').map((s) => s.trim());
  if (ids.length === 0 || ids.some((s) => !/^\d+$/.test(s))) throw new InvalidArgumentError('a comma-separated list of device ids, e.g. 0,1');
  if (new Set(ids).size !== ids.length) throw new InvalidArgumentError('device ids must be distinct');
  return ids;
};

/** The whole command line (exported for the test that checks deploy/ against it). */
export function coordinatorProgram(): Command {
  const program = new Command('coordinator').description('model-parallel AlexNet: one tower process per device, ZeroMQ exchange at the cross-tower layers');
  addTrain(program);
  addModelCommands(program);
  addInspectCommands(program);
  return program;
}

/** `train`, the default command. */
function addTrain(program: Command): void {
  program
    .command('train', { isDefault: true })
    .description("train the config's net split over the listed devices")
    .requiredOption('--config <file>', 'YAML config (see configs/)')
    .option('--gpus <ids>', "device ids, one tower each: 0 = single tower, 0,1 = the paper's split", devices)
    .option('--steps <n>', 'train this many steps', positive('--steps'))
    .option('--epochs <n>', "train this many epochs (default: the config's)", positive('--epochs'))
    .option('--seed <n>', 'seed for weights, dropout and data order (overrides train.seed)', (v) => Number.parseInt(v, 10))
    .option('--batch <n>', 'batch size (overrides train.batch)', positive('--batch'))
    .option('--out <dir>', 'the run directory: resolved config, metrics.jsonl, log.jsonl, checkpoints, result.json, report.html (default: runs/<date>-<config>)')
    .option('--baseline', 'after the split run, run the same config on one tower and compare')
    .option(
      '--half-baseline <config>',
      "also run that config's net on one tower with this run's recipe and data (the paper's half-kernel baseline: configs/alexnet-1gpu-half.yaml)",
    )
    .option(
      '--checkpoint-every <n>',
      'also write <out>/checkpoint.bin every n steps (it is always written at the end; weights, optimizer and schedule state, atomically)',
      positive('--checkpoint-every'),
    )
    .option('--data <path>', "dataset root, overriding the config's (folders: <path>/train and <path>/val; cifar10: the directory of the .bin files)")
    .option('--max-restarts <n>', 'when a tower dies, restart the towers and resume from the last checkpoint, up to n times (default 0)', nonNegative('--max-restarts'))
    .option(
      '--heartbeat-timeout <seconds>',
      'a tower that sends no heartbeat this long counts as hung: the run stops, or restarts with --max-restarts (default 10)',
      seconds('--heartbeat-timeout'),
    )
    .option('--resume <dir>', 'continue from the checkpoint in <dir> (on any number of towers)')
    .option('--continue', 'continue the run in --out from its checkpoint if it has one, else start it there (one command for a job that may be restarted)')
    .option('--listen <address>', "do not spawn towers: wait for the config's towers (tower-0…N-1, N from --gpus or net.groups) to connect from other hosts, at tcp://ADDRESS:PORT")
    .option('--keys <dir>', 'with --listen: CURVE keys from `coordinator keys`; only towers holding them are admitted, and the traffic is encrypted')
    .option('--insecure', 'with --listen: allow a non-loopback address without --keys (anyone who can reach it can join)')
    .option('--tower-wait <seconds>', `with --listen: how long to wait for every tower to connect (default ${TOWER_WAIT_S})`, seconds('--tower-wait'))
    .option('--json', 'print one JSON object with the results on stdout')
    .addOption(new Option('--backend <name>', 'compute backend').choices(BACKENDS).default('auto'))
    .option('--verbose', 'debug logs, and tower logs at info')
    .option('--quiet', 'warnings and errors only, no progress bars')
    .action(async (o: MainOptions) => {
      process.exitCode = await runMain(o);
    });
}

/** Keys for other hosts, and what to do with a trained model: export and predict. */
function addModelCommands(program: Command): void {
  program
    .command('keys')
    .description('make CURVE key pairs for the coordinator and each tower, for --listen and tower --keys')
    .requiredOption('--out <dir>', 'directory for coordinator.key, coordinator.key_secret, tower-N.key, tower-N.key_secret (never overwritten)')
    .option('--towers <n>', 'how many tower key pairs', positive('--towers'), 2)
    .action((o: { out: string; towers: number }) => {
      process.stdout.write(`${keysHelp(o.out, o.towers, makeKeys(o.out, o.towers))}\n`);
    });

  program
    .command('export')
    .description("merge a run's tower slices into one single-tower model: a TF.js LayersModel or a safetensors file")
    .argument('<run-dir>', 'a run directory (its checkpoint.bin)')
    .addOption(
      new Option('--format <format>', 'tfjs: model.json + weights for tf.loadLayersModel; safetensors: one file for PyTorch/NumPy').choices(EXPORT_FORMATS).default('tfjs'),
    )
    .requiredOption('--out <dir>', 'where to write the model')
    .option('--data <path>', 'the dataset root the run was given with --data (for class names and preprocessing)')
    .action(async (runDir: string, o: { format: ExportFormat; out: string; data?: string }) => {
      process.stdout.write(`${await exportCommand({ runDir, ...o })}\n`);
    });

  program
    .command('predict')
    .description('the top classes of each image, from an exported tfjs model')
    .requiredOption('--model <dir>', 'a directory written by `coordinator export --format tfjs`')
    .option('--top <n>', 'how many classes to show', positive('--top'), 5)
    .option('--json', 'print JSON')
    .argument('<images...>', 'image files (JPEG, PNG, ...)')
    .action(async (images: string[], o: { model: string; top: number; json?: boolean }) => {
      const text = await predictCommand({ ...o, images });
      process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    });
}

/** Looking at runs and nets: the report and the summary table. */
function addInspectCommands(program: Command): void {
  program
    .command('report')
    .description('(re)build <run-dir>/report.html from the run directory: curves, speed, time per tower, the net, the config')
    .argument('<run-dir>', 'a run directory (what --out named)')
    .action(async (dir: string) => {
      process.stdout.write(`${await writeReport(dir)}\n`);
    });

  program
    .command('summary')
    .description('print the net as a table: output shapes, parameters, which towers hold it, where towers exchange')
    .requiredOption('--config <file>', 'YAML config')
    .option('--gpus <ids>', 'device ids (default: one per net.groups)', devices)
    .option('--json', 'print JSON instead of a table')
    .action((o: { config: string; gpus?: string[]; json?: boolean }) => {
      const config = loadConfig(o.config);
      const net = buildNet(config.net);
      const s = summarize(planSplit(net, o.gpus?.length ?? config.net.groups));
      process.stdout.write(o.json ? `${JSON.stringify(s, null, 2)}\n` : `${formatSummary(s)}\n`);
    });
}

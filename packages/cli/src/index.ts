// Public entry of @select/cli: the `select` command (bin/select.js runs dist/main.js). Exported for tests and
// for scripts that want the same checks without a child process.
export { createProgram, runCli } from './program.js';
export { CliError, EXIT_CODES, toCliError, type Endpoints, type ExitCode } from './errors.js';
export { formatTable, type TableColumn, type TableFormatOptions } from './table-format.js';
export { healthReport, type ComponentHealth, type HealthReportOptions } from './health-report.js';
export { runSqlCommand, type OutputFormat, type SqlCommandOptions } from './sql-command.js';
export { runTopicsCommand } from './topics-command.js';
export { findInfraScript, runInfraScript } from './infra-script.js';

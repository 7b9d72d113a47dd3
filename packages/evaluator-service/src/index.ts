// Public entry of @select/evaluator-service: the service (startEvaluatorServer), its pure metric code, the
// leaderboard and the HTML report renderer that `select report` uses.
export { evaluatorConfigSchema, type EvaluatorConfig } from './config.js';
export { startEvaluatorServer, SERVICE_NAME, type EvaluatorServer, type EvaluatorServerOptions } from './server.js';
export { ClassificationAccumulator, ECE_BINS, type ClassificationSummary, type ClassResult } from './metrics/classification.js';
export { LabelSpace } from './metrics/label-space.js';
export { buildBalancedBank, KnnAccumulator, KNN_DEFAULTS, type BalancedBank, type KnnScore } from './metrics/knn.js';
export { classCountMetrics, clipScore, type ClassCountMetrics } from './metrics/shift-analytics.js';
export { cmmd, contaminationRate, nearDuplicateRate, CMMD_SCALE, CMMD_SIGMA } from './metrics/embedding-analytics.js';
export { correlate, pearson, ranks, type Correlation } from './metrics/correlation.js';
export { Linalg, normalizeRows, transpose, type Matrix, type LinalgOptions } from './metrics/linalg.js';
export { SeededRandom } from './metrics/random.js';
export { buildLeaderboard, lowerIsBetter, LOWER_IS_BETTER, type LeaderboardRow, type ScoreRow } from './leaderboard.js';
export { loadReferenceTable, parseReferenceTable, referenceRecords, type ReferenceTable } from './reference-tables.js';
export { LabelSpaceError, EvaluatorInputError } from './errors.js';
export { renderReport } from './report/render-report.js';
export { collectReportData, sampleGrid, CURATION_FUNNEL_QUERY, type CollectOptions, type ReportData } from './report/report-data.js';

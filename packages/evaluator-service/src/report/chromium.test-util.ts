// Renders an HTML file in headless Chromium (Debian's `chromium`): a screenshot, and every console error and
// uncaught exception of the page. The page gets a first script that records them; the DOM dump carries them out.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

const HARNESS = `<script>window.__errors=[];addEventListener('error',function(e){__errors.push('uncaught: '+e.message)});
addEventListener('unhandledrejection',function(e){__errors.push('unhandled rejection: '+e.reason)});
(function(){var ce=console.error;console.error=function(){__errors.push('console.error: '+Array.prototype.join.call(arguments,' '));ce.apply(console,arguments)}})();
addEventListener('load',function(){setTimeout(function(){document.documentElement.setAttribute('data-errors',JSON.stringify(__errors))},200)});</script>`;

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--virtual-time-budget=5000', '--allow-file-access-from-files'];

export interface ChromiumResult {
  errors: string[];
  chartsRendered: number;
}

export async function renderInChromium(html: string, file: string, screenshot: string, size = '1280,3000'): Promise<ChromiumResult> {
  const instrumented = html.replace('<head>', `<head>${HARNESS}`);
  await writeFile(file, instrumented);
  const url = `file://${file}`;
  const { stdout } = await run('chromium', [...FLAGS, '--dump-dom', url], { maxBuffer: 1 << 28, timeout: 120_000 });
  await run('chromium', [...FLAGS, `--screenshot=${screenshot}`, `--window-size=${size}`, url], { timeout: 120_000 });
  const errorsAttr = /<html[^>]*data-errors="([^"]*)"/.exec(stdout)?.[1];
  if (errorsAttr === undefined) throw new Error('the page never finished loading in Chromium (no data-errors attribute in the DOM dump)');
  const decode = (s: string) => s.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  const charts = /<body[^>]*data-charts-rendered="(\d+)"/.exec(stdout)?.[1];
  return { errors: JSON.parse(decode(errorsAttr)) as string[], chartsRendered: charts === undefined ? 0 : Number(charts) };
}

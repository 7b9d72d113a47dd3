import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadReferenceTable, parseCsv, parseReferenceTable } from './reference-tables.js';

const fixture = (name: string) => fileURLToPath(new URL(`../test/fixtures/${name}`, import.meta.url));
const HEADER =
  'classname,qty nonzero cols,most confused classnames,most confused scores,skewness of normalized confusion scores,accuracy,Precision,Recall,Frequency,Balanced Accuracy,index,Class Count';

describe('reference tables', () => {
  it('reads a stats-complete table: quoted lists, nan precision, repeated rows kept once, fractions as percent', async () => {
    const table = await loadReferenceTable(fixture('toy-stats-complete.csv'));
    expect(table.scale).toBe('fraction');
    expect(table.duplicateRows).toBe(1);
    expect(table.classes.map((c) => [c.index, c.classname, c.classCount])).toEqual([
      [0, 'tench', 1300],
      [1, 'goldfish', 1200],
      [657, 'missile', 0],
      [836, 'sunglasses', 300],
    ]);
    expect(table.classes[0]!.accuracy).toBeCloseTo(90, 10);
    expect(table.classes[1]!.precision).toBeCloseTo(87.5, 10);
    expect(table.classes[2]!.precision).toBeNaN();
  });

  it("reads the sd1000 variant (pandas' unnamed index column) and la1000t2i's capitalised Accuracy, already in percent", async () => {
    const table = await loadReferenceTable(fixture('toy-sd-stats-complete.csv'));
    expect(table.scale).toBe('percent');
    expect(table.classes.map((c) => c.accuracy)).toEqual([60, 20]);
  });

  it('says what is wrong with a malformed table', () => {
    expect(() => parseReferenceTable('classname,accuracy\ntench,0.5\n', 'a.csv')).toThrow(/a.csv: missing column\(s\) precision, recall, index, class count/);
    expect(() => parseReferenceTable(`${HEADER}\n`, 'b.csv')).toThrow(/b.csv: no data rows/);
    expect(() => parseReferenceTable(`${HEADER}\ntench,1,[],[],0,high,0.5,0.5,0,0.5,0,10\n`, 'c.csv')).toThrow(/c.csv line 2, accuracy: "high" is not a number/);
    expect(() => parseReferenceTable(`${HEADER}\ntench,1,[],[],0,0.5,0.5,0.5,0,0.5,1000,10\n`, 'd.csv')).toThrow(/d.csv line 2: index 1000 is not a class index/);
    expect(() => parseReferenceTable(`${HEADER}\ntench,1,[],[],0,0.5,0.5\n`, 'e.csv')).toThrow(/e.csv line 2: 7 fields, the header has 12/);
    expect(() => parseReferenceTable(`${HEADER}\ntench,1,[],[],0,0.5,0.5,0.5,0,0.5,0,-3\n`, 'f.csv')).toThrow(/Class Count -3/);
    expect(() => parseCsv('a,"b\n')).toThrow(/inside a quoted field/);
  });

  it('names the file it cannot read', async () => {
    await expect(loadReferenceTable('/nonexistent/in1000-stats-complete.csv')).rejects.toThrow(/cannot read the reference table \/nonexistent/);
  });
});

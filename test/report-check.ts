/** Shared checks for reports: the JSON schema and the JUnit structure CI servers read. */
import { readFileSync } from 'node:fs';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import * as assert from 'uvu/assert';

const cjs = <T>(m: unknown): T => ((m as { default?: T }).default ?? m) as T;
const ajv = new (cjs<new (o: object) => import('ajv/dist/2020.js').default>(Ajv2020))({ allErrors: true, strict: true, allowUnionTypes: true });
cjs<(a: unknown) => void>(addFormats)(ajv);
const validate = ajv.compile(JSON.parse(readFileSync('schemas/report.schema.json', 'utf8')));

export function assertValidJson(text: string): any {
  const doc = JSON.parse(text);
  assert.ok(validate(doc), JSON.stringify(validate.errors, null, 1));
  return doc;
}

/** Parses JUnit XML and checks the shape of the common JUnit schema: testsuites > testsuite > testcase. */
export function parseJunit(xml: string): { suites: any[] } {
  assert.is(XMLValidator.validate(xml), true);
  const doc = new XMLParser({ ignoreAttributes: false, isArray: (name) => name === 'testsuite' || name === 'testcase' }).parse(xml);
  const suites = doc.testsuites.testsuite as any[];
  for (const s of suites) {
    assert.type(s['@_name'], 'string');
    const cases = s.testcase ?? [];
    assert.is(Number(s['@_tests']), cases.length);
    assert.is(Number(s['@_failures']), cases.filter((c: any) => c.failure !== undefined).length);
    assert.is(Number(s['@_errors']), cases.filter((c: any) => c.error !== undefined).length);
    for (const c of cases) assert.ok(c['@_name'] && c['@_classname']);
  }
  return { suites };
}

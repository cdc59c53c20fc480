/** The values the dashboard's variables take: the ones given, else what Prometheus has, in the dashboard's order. */
import { type LabelValuesVariable, substitute } from "./dashboard";
import { labelValues } from "./prometheus";

export async function chosenValues(
  prometheus: string,
  variables: LabelValuesVariable[],
  given: Record<string, string[]>,
  range: { start: number; end: number },
): Promise<Record<string, string[]>> {
  const values: Record<string, string[]> = {};
  for (const variable of variables) {
    // Each variable's selector may name the ones before it ($stack in the bottle's).
    const match = substitute(variable.match, values, 0);
    const found = given[variable.name] ?? (await labelValues(prometheus, variable.label, match, range));
    if (found.length === 0)
      throw new Error(`Prometheus has no values of ${variable.label} for ${match} in the range: is it scraping bottles?`);
    values[variable.name] = variable.multi ? found : found.slice(0, 1);
  }
  return values;
}

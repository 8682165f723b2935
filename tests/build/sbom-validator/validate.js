// validate.js -- checks a CycloneDX 1.5 JSON bill of materials with @cyclonedx/cyclonedx-library (schema validation)
'use strict';
const fs = require('fs');
const { Spec, Validation } = require('@cyclonedx/cyclonedx-library');

async function main() {
  if (process.argv.length !== 3) {
    console.error('usage: node validate.js SBOM.cdx.json');
    process.exit(100);
  }
  const text = fs.readFileSync(process.argv[2], 'utf8');
  const validator = new Validation.JsonStrictValidator(Spec.Version.v1dot5);
  const errors = await validator.validate(text);
  if (errors !== null) {
    console.error(`${process.argv[2]}: not a valid CycloneDX 1.5 document:`);
    console.error(JSON.stringify(errors, null, 2));
    process.exit(1);
  }
  console.log(`${process.argv[2]}: valid CycloneDX 1.5 JSON`);
}
main().catch((e) => { console.error(e.message || e); process.exit(111); });

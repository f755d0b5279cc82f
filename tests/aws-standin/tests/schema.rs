//! The committed schema subset loads into our `Schema` and passes Terraform's validity rules;
//! data-source fixtures fit their schemas.
use stagecraft_aws_standin::{
    load_schemas, parse_fixtures, StandinProvider, ADDRESS, EMBEDDED_FIXTURES, EMBEDDED_SCHEMA,
};
use terraform_provider_staging::tfplugin::resource::DynDataSource;
use terraform_provider_staging::tfplugin::{Ctx, Provider};

#[test]
fn embedded_schema_loads_and_is_valid() {
    let s = load_schemas(EMBEDDED_SCHEMA, ADDRESS).expect("schema loads");
    assert!(s.resources.contains_key("aws_apprunner_service"));
    assert!(s.resources.contains_key("aws_db_instance"));
    assert!(s.data_sources.contains_key("aws_caller_identity"));
    let db = &s.resources["aws_db_instance"];
    assert_eq!(db.version, 2, "schema version from overrides.json");
    let pw = db.block.attribute("password_wo").expect("password_wo");
    assert!(pw.write_only && pw.sensitive);
    let svc = &s.resources["aws_apprunner_service"];
    let src = svc.block.nested("source_configuration").expect("block");
    assert_eq!((src.min_items, src.max_items), (1, 1));
}

#[tokio::test]
async fn data_sources_answer_from_fixtures() {
    let schemas = load_schemas(EMBEDDED_SCHEMA, ADDRESS).unwrap();
    let p = StandinProvider::new(schemas, parse_fixtures(EMBEDDED_FIXTURES).unwrap());
    let ds: Vec<Box<dyn DynDataSource>> = p.data_sources();
    for d in &ds {
        let config = d.schema().block.null_object();
        let v = d
            .read(&Ctx::background(), config)
            .await
            .unwrap_or_else(|e| panic!("{}: {:?}", d.type_name(), e));
        assert!(v.is_wholly_known(), "{}", d.type_name());
    }
    let me = ds
        .iter()
        .find(|d| d.type_name() == "aws_caller_identity")
        .unwrap();
    let v = me
        .read(&Ctx::background(), me.schema().block.null_object())
        .await
        .unwrap();
    assert_eq!(
        v.get("account_id").and_then(|a| a.as_str()),
        Some("123456789012")
    );
}

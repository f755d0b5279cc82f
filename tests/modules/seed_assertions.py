"""Every value of the seeds' tables, asserted on the normalized plans of environments/staging and
environments/production (seed 000: module.togetherhood, App Runner; seed 003:
module.whatsapp_saas, ECS)."""
import json

T = "module.togetherhood."
W = "module.whatsapp_saas."

# (what, address, path into `after`, {env: expected})
EXPECT = [
    # --- seed 000: "Staging vs Production" and "Cost Optimization" tables, setup steps ---
    ("000 ECR tag", T + "aws_apprunner_service.this",
     "source_configuration.0.image_repository.0.image_identifier",
     {"staging": "123456789012.dkr.ecr.us-east-1.amazonaws.com/togetherhood-app:staging", "production": "(known after apply)"}),
    ("000 App Runner service", T + "aws_apprunner_service.this", "service_name",
     {"staging": "togetherhood-app-staging", "production": "togetherhood-app-production"}),
    ("000 database instance class", T + "aws_db_instance.this[0]", "instance_class",
     {"staging": "db.t3.micro", "production": "db.t3.large"}),
    ("000 database identifier", T + "aws_db_instance.this[0]", "identifier",
     {"staging": "togetherhood-staging-db", "production": "togetherhood-production-db"}),
    ("000 database name", T + "aws_db_instance.this[0]", "db_name",
     {"staging": "togetherhood_staging", "production": "togetherhood_production"}),
    ("000 engine", T + "aws_db_instance.this[0]", "engine", {"*": "mysql"}),
    ("000 engine version", T + "aws_db_instance.this[0]", "engine_version", {"*": "8.0.35"}),
    ("000 master user", T + "aws_db_instance.this[0]", "username", {"*": "admin"}),
    ("000 allocated storage", T + "aws_db_instance.this[0]", "allocated_storage", {"*": 20}),
    ("000 storage type", T + "aws_db_instance.this[0]", "storage_type", {"*": "gp3"}),
    ("000 storage encrypted", T + "aws_db_instance.this[0]", "storage_encrypted", {"*": True}),
    ("000 not publicly accessible", T + "aws_db_instance.this[0]", "publicly_accessible", {"*": False}),
    ("000 backups", T + "aws_db_instance.this[0]", "backup_retention_period", {"staging": 7, "production": 30}),
    ("000 backup window", T + "aws_db_instance.this[0]", "backup_window", {"*": "03:00-04:00"}),
    ("000 maintenance window", T + "aws_db_instance.this[0]", "maintenance_window", {"*": "mon:04:00-mon:05:00"}),
    ("000 log exports", T + "aws_db_instance.this[0]", "enabled_cloudwatch_logs_exports",
     {"*": ["error", "general", "slowquery"]}),
    ("000 password never in plan", T + "aws_db_instance.this[0]", "password_wo", {"*": None}),
    ("000 database tags", T + "aws_db_instance.this[0]", "tags",
     {"staging": {"Application": "TogetherhoodApp", "Environment": "Staging"},
      "production": {"Application": "TogetherhoodApp", "Environment": "Production"}}),
    ("000 secret", T + "aws_secretsmanager_secret.config", "name",
     {"staging": "togetherhood-app/staging/config", "production": "togetherhood-app/production/config"}),
    ("000 secret value never in plan", T + "aws_secretsmanager_secret_version.config", "secret_string_wo", {"*": None}),
    ("000 CPU", T + "aws_apprunner_service.this", "instance_configuration.0.cpu",
     {"staging": "0.5 vCPU", "production": "1 vCPU"}),
    ("000 memory", T + "aws_apprunner_service.this", "instance_configuration.0.memory",
     {"staging": "1 GB", "production": "2 GB"}),
    ("000 domain", T + "aws_apprunner_custom_domain_association.this[0]", "domain_name",
     {"staging": "staging.togetherhood.com", "production": "app.togetherhood.com"}),
    ("000 port", T + "aws_apprunner_service.this",
     "source_configuration.0.image_repository.0.image_configuration.0.port", {"*": "8080"}),
    ("000 ASPNETCORE_ENVIRONMENT", T + "aws_apprunner_service.this",
     "source_configuration.0.image_repository.0.image_configuration.0.runtime_environment_variables",
     {"staging": {"ASPNETCORE_ENVIRONMENT": "Staging"}, "production": {"ASPNETCORE_ENVIRONMENT": "Production"}}),
    ("000 auto deployments", T + "aws_apprunner_service.this", "source_configuration.0.auto_deployments_enabled", {"*": True}),
    ("000 health check", T + "aws_apprunner_service.this", "health_check_configuration.0",
     {"*": {"protocol": "HTTP", "path": "/api/health", "interval": 10, "timeout": 5,
            "healthy_threshold": 1, "unhealthy_threshold": 5}}),
    ("000 alarm metric", T + "aws_cloudwatch_metric_alarm.health_check_failed[0]", "metric_name", {"*": "HealthChecksFailed"}),
    ("000 alarm namespace", T + "aws_cloudwatch_metric_alarm.health_check_failed[0]", "namespace", {"*": "AWS/AppRunner"}),
    ("000 alarm statistic", T + "aws_cloudwatch_metric_alarm.health_check_failed[0]", "statistic", {"*": "Average"}),
    ("000 alarm period", T + "aws_cloudwatch_metric_alarm.health_check_failed[0]", "period", {"*": 300}),
    ("000 alarm threshold", T + "aws_cloudwatch_metric_alarm.health_check_failed[0]", "threshold", {"*": 1}),
    ("000 alarm comparison", T + "aws_cloudwatch_metric_alarm.health_check_failed[0]", "comparison_operator", {"*": "GreaterThanThreshold"}),
    ("000 alarm evaluation periods", T + "aws_cloudwatch_metric_alarm.health_check_failed[0]", "evaluation_periods", {"*": 2}),
    ("000 instance role trusts tasks.apprunner", T + "aws_iam_role.instance", "assume_role_policy",
     {"*": json.dumps({"Statement": [{"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "tasks.apprunner.amazonaws.com"}}], "Version": "2012-10-17"}, separators=(",", ":"))}),
    ("000 staging reuses production's repository", T + "aws_ecr_repository.this[0]", "name",
     {"staging": "(absent)", "production": "togetherhood-app"}),

    # --- seed 003: "Environment Details" table, infrastructure resources, security ---
    ("003 RDS instance", W + "aws_db_instance.this", "instance_class", {"staging": "db.t3.micro", "production": "db.t4g.large"}),
    ("003 RDS identifier", W + "aws_db_instance.this", "identifier",
     {"staging": "whatsapp-saas-staging-db", "production": "whatsapp-saas-production-db"}),
    ("003 RDS engine", W + "aws_db_instance.this", "engine", {"*": "postgres"}),
    ("003 RDS engine version", W + "aws_db_instance.this", "engine_version", {"*": "15.4"}),
    ("003 RDS storage", W + "aws_db_instance.this", "allocated_storage", {"*": 20}),
    ("003 RDS max storage", W + "aws_db_instance.this", "max_allocated_storage", {"*": 50}),
    ("003 RDS gp3", W + "aws_db_instance.this", "storage_type", {"*": "gp3"}),
    ("003 RDS encrypted", W + "aws_db_instance.this", "storage_encrypted", {"*": True}),
    ("003 RDS backups", W + "aws_db_instance.this", "backup_retention_period", {"staging": 7, "production": 30}),
    ("003 RDS backup window", W + "aws_db_instance.this", "backup_window", {"*": "03:00-04:00"}),
    ("003 RDS maintenance window", W + "aws_db_instance.this", "maintenance_window", {"*": "mon:04:00-mon:05:00"}),
    ("003 RDS enhanced monitoring 60 s", W + "aws_db_instance.this", "monitoring_interval", {"*": 60}),
    ("003 RDS log exports", W + "aws_db_instance.this", "enabled_cloudwatch_logs_exports", {"*": ["postgresql", "upgrade"]}),
    ("003 RDS auto minor version upgrade", W + "aws_db_instance.this", "auto_minor_version_upgrade", {"*": True}),
    ("003 RDS Performance Insights", W + "aws_db_instance.this", "performance_insights_enabled", {"staging": False, "production": True}),
    ("003 RDS deletion protection", W + "aws_db_instance.this", "deletion_protection", {"staging": False, "production": True}),
    ("003 RDS Multi-AZ", W + "aws_db_instance.this", "multi_az", {"staging": False, "production": True}),
    ("003 RDS not public", W + "aws_db_instance.this", "publicly_accessible", {"*": False}),
    ("003 Redis node", W + "aws_elasticache_replication_group.this", "node_type",
     {"staging": "cache.t3.micro", "production": "cache.t4g.medium"}),
    ("003 Redis engine", W + "aws_elasticache_replication_group.this", "engine", {"*": "redis"}),
    ("003 Redis version", W + "aws_elasticache_replication_group.this", "engine_version", {"*": "7.0"}),
    ("003 Redis nodes", W + "aws_elasticache_replication_group.this", "num_cache_clusters", {"staging": 1, "production": 2}),
    ("003 Redis port", W + "aws_elasticache_replication_group.this", "port", {"*": 6379}),
    ("003 Redis snapshot retention", W + "aws_elasticache_replication_group.this", "snapshot_retention_limit",
     {"staging": 3, "production": 7}),
    ("003 Redis snapshot window", W + "aws_elasticache_replication_group.this", "snapshot_window", {"*": "03:00-05:00"}),
    ("003 Redis maintenance window", W + "aws_elasticache_replication_group.this", "maintenance_window", {"*": "mon:05:00-mon:06:00"}),
    ("003 Redis parameters", W + "aws_elasticache_parameter_group.this", "parameter",
     {"*": [{"name": "maxmemory-policy", "value": "allkeys-lru"}, {"name": "timeout", "value": "300"}]}),
    ("003 Redis parameter family", W + "aws_elasticache_parameter_group.this", "family", {"*": "redis7"}),
    ("003 EC2 instance", W + "aws_launch_template.this", "instance_type", {"staging": "t3.micro", "production": "t3.large"}),
    ("003 log retention", W + "aws_cloudwatch_log_group.app", "retention_in_days", {"staging": 7, "production": 30}),
    ("003 application log group", W + "aws_cloudwatch_log_group.app", "name",
     {"staging": "/aws/staging/whatsapp-saas/application", "production": "/aws/production/whatsapp-saas/application"}),
    ("003 RDS log group", W + "aws_cloudwatch_log_group.rds", "name",
     {"staging": "/aws/rds/instance/whatsapp-saas-staging-db/postgresql",
      "production": "/aws/rds/instance/whatsapp-saas-production-db/postgresql"}),
    ("003 RDS log retention", W + "aws_cloudwatch_log_group.rds", "retention_in_days", {"staging": 7, "production": 30}),
    ("003 secret admin-token", W + "aws_secretsmanager_secret.admin_token", "name",
     {"staging": "whatsapp-saas/staging/admin-token", "production": "whatsapp-saas/production/admin-token"}),
    ("003 secret database-url", W + "aws_secretsmanager_secret.database_url", "name",
     {"staging": "whatsapp-saas/staging/database-url", "production": "whatsapp-saas/production/database-url"}),
    ("003 secret redis-url", W + "aws_secretsmanager_secret.redis_url", "name",
     {"staging": "whatsapp-saas/staging/redis-url", "production": "whatsapp-saas/production/redis-url"}),
    ("003 secret recovery window", W + "aws_secretsmanager_secret.admin_token", "recovery_window_in_days", {"*": 7}),
    ("003 secret recovery window (database-url)", W + "aws_secretsmanager_secret.database_url", "recovery_window_in_days", {"*": 7}),
    ("003 secret recovery window (redis-url)", W + "aws_secretsmanager_secret.redis_url", "recovery_window_in_days", {"*": 7}),
    ("003 SNS topic", W + "aws_sns_topic.alerts", "name",
     {"staging": "whatsapp-saas-staging-alerts", "production": "whatsapp-saas-production-alerts"}),
    ("003 SNS email subscription", W + "aws_sns_topic_subscription.email[0]", "endpoint", {"*": "alerts@example.com"}),
    ("003 alarm RDS CPU", W + "aws_cloudwatch_metric_alarm.rds_cpu", "metric_name", {"*": "CPUUtilization"}),
    ("003 alarm RDS storage", W + "aws_cloudwatch_metric_alarm.rds_storage", "metric_name", {"*": "FreeStorageSpace"}),
    ("003 alarm Redis memory", W + "aws_cloudwatch_metric_alarm.redis_memory", "metric_name", {"*": "DatabaseMemoryUsagePercentage"}),
    ("003 app SG name", W + "aws_security_group.app", "name", {"staging": "app-staging-sg", "production": "app-production-sg"}),
    ("003 RDS SG name", W + "aws_security_group.rds", "name", {"staging": "rds-staging-sg", "production": "rds-production-sg"}),
    ("003 Redis SG name", W + "aws_security_group.redis", "name", {"staging": "redis-staging-sg", "production": "redis-production-sg"}),
    ("003 app HTTP 80 from anywhere", W + 'aws_vpc_security_group_ingress_rule.app_public["http"]', "",
     {"*": {"from_port": 80, "to_port": 80, "ip_protocol": "tcp", "cidr_ipv4": "0.0.0.0/0"}}),
    ("003 app HTTPS 443 from anywhere", W + 'aws_vpc_security_group_ingress_rule.app_public["https"]', "",
     {"*": {"from_port": 443, "to_port": 443, "ip_protocol": "tcp", "cidr_ipv4": "0.0.0.0/0"}}),
    ("003 app port 3000 from anywhere", W + 'aws_vpc_security_group_ingress_rule.app_public["app"]', "",
     {"*": {"from_port": 3000, "to_port": 3000, "ip_protocol": "tcp", "cidr_ipv4": "0.0.0.0/0"}}),
    ("003 app SSH 22 from the configurable CIDR", W + "aws_vpc_security_group_ingress_rule.app_ssh", "",
     {"staging": {"from_port": 22, "to_port": 22, "ip_protocol": "tcp", "cidr_ipv4": "0.0.0.0/0"},
      "production": {"from_port": 22, "to_port": 22, "ip_protocol": "tcp", "cidr_ipv4": "203.0.113.0/24"}}),
    ("003 app outbound all", W + "aws_vpc_security_group_egress_rule.app_all", "",
     {"*": {"ip_protocol": "-1", "cidr_ipv4": "0.0.0.0/0"}}),
    ("003 RDS 5432 from the app SG only", W + "aws_vpc_security_group_ingress_rule.rds_from_app", "",
     {"*": {"from_port": 5432, "to_port": 5432, "ip_protocol": "tcp", "cidr_ipv4": None,
            "referenced_security_group_id": "(known after apply)"}}),
    ("003 Redis 6379 from the app SG only", W + "aws_vpc_security_group_ingress_rule.redis_from_app", "",
     {"*": {"from_port": 6379, "to_port": 6379, "ip_protocol": "tcp", "cidr_ipv4": None,
            "referenced_security_group_id": "(known after apply)"}}),
    ("003 RDS outbound all", W + "aws_vpc_security_group_egress_rule.rds_all", "", {"*": {"ip_protocol": "-1", "cidr_ipv4": "0.0.0.0/0"}}),
    ("003 Redis outbound all", W + "aws_vpc_security_group_egress_rule.redis_all", "", {"*": {"ip_protocol": "-1", "cidr_ipv4": "0.0.0.0/0"}}),
    ("003 ECS cluster", W + "aws_ecs_cluster.this", "name", {"staging": "whatsapp-saas-staging", "production": "whatsapp-saas-production"}),
    ("003 ECS service", W + "aws_ecs_service.this", "name",
     {"staging": "whatsapp-saas-staging-service", "production": "whatsapp-saas-production-service"}),
    ("003 task definition", W + "aws_ecs_task_definition.this", "family",
     {"staging": "whatsapp-saas-staging", "production": "whatsapp-saas-production"}),
    ("003 auto-destroy", W + "aws_db_instance.this", "tags.stagecraft:auto-destroy", {"staging": "enabled", "production": "disabled"}),
    ("003 auto-destroy after 7 idle days", W + "aws_db_instance.this", "tags.stagecraft:idle-days", {"*": "7"}),
]

OUTPUTS = [
    ("003 auto-destroy output", "auto_destroy",
     {"staging": {"enabled": True, "idle_days": 7}, "production": {"enabled": False, "idle_days": 7}}),
]


def dig(value, path):
    if not path:
        return value
    for part in path.split(".") if not path.startswith("tags.") else ["tags", path[5:]]:
        if isinstance(value, list):
            value = value[int(part)] if part.isdigit() and int(part) < len(value) else "(absent)"
        elif isinstance(value, dict):
            value = value.get(part, "(absent)")
        else:
            return "(absent)"
    return value


def matches(actual, expected):
    """`expected` dicts are subsets of the actual object; anything else compares exactly."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return all(matches(actual.get(k, "(absent)"), v) for k, v in expected.items())
    if isinstance(expected, list) and isinstance(actual, list):
        if all(isinstance(x, str) for x in expected + actual):
            return sorted(expected) == sorted(actual)
        return len(expected) == len(actual) and all(
            any(matches(a, e) for a in actual) for e in expected)
    return actual == expected


def check(envname, plan):
    by_addr = {rc["address"]: rc for rc in plan["resource_changes"]}
    out = []
    for what, addr, path, exp in EXPECT:
        expected = exp.get(envname, exp.get("*"))
        rc = by_addr.get(addr)
        if rc is None:
            actual = "(absent)"
        else:
            actual = dig(rc["after"], path)
        ok = matches(actual, expected)
        out.append((f"{what} = {json.dumps(expected)}", ok,
                    f"{addr} {path}: got {json.dumps(actual)[:400]}"))
    for what, name, exp in OUTPUTS:
        expected = exp.get(envname, exp.get("*"))
        actual = plan["output_changes"].get(name, {}).get("after", "(absent)")
        out.append((f"{what} = {json.dumps(expected)}", matches(actual, expected), f"output {name}: got {json.dumps(actual)}"))
    return out

# Remote state: S3 (versioned, encrypted) with DynamoDB locking. Values come from
# environments/<env>.s3.tfbackend: terraform init -backend-config=environments/<env>.s3.tfbackend
terraform {
  backend "s3" {}
}

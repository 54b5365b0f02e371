#!/bin/bash
# bench/store.sh [SIZE_MIB] - single-GET and multipart-PUT throughput of the
# S3 store against RGW, next to `aws s3 cp` and curl on the same object.
# Prints a table; raw numbers go to bench/results/store.tsv.
source "$(dirname "$0")/lib.sh"
MIB=${1:-1024}
BYTES=$((MIB * 1048576))
B=bench-store-$$
awsc s3api create-bucket --bucket "$B" >/dev/null
CFG=$BENCH_TMP/config.json
bench_config "$B" "$CFG"
F=$BENCH_TMP/obj
head -c "$BYTES" /dev/urandom > "$F"

t_ocb_put=$(timeit "$OCB" --config "$CFG" store put "$F" ocb-obj)
rss_put=$(peak_rss_kib "$OCB" --config "$CFG" store put "$F" ocb-obj2)
t_aws_put=$(timeit awsc s3 cp "$F" "s3://$B/aws-obj")
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
t_ocb_get=$(timeit "$OCB" --config "$CFG" store get ocb-obj /dev/null)
rss_get=$(peak_rss_kib "$OCB" --config "$CFG" store get ocb-obj /dev/null)
t_aws_get=$(timeit awsc s3 cp "s3://$B/aws-obj" /dev/null)
t_curl_get=$(timeit curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" \
	--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
	-H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
	-o /dev/null "$ENDPOINT/$B/aws-obj")

{
	printf 'op\ttool\tMiB\tseconds\tMB/s\tpeak_rss_KiB\n'
	printf 'put\tocb store put\t%s\t%.2f\t%s\t%s\n' "$MIB" "$t_ocb_put" "$(mbps $BYTES $t_ocb_put)" "$rss_put"
	printf 'put\taws s3 cp\t%s\t%.2f\t%s\t-\n' "$MIB" "$t_aws_put" "$(mbps $BYTES $t_aws_put)"
	printf 'get\tocb store get\t%s\t%.2f\t%s\t%s\n' "$MIB" "$t_ocb_get" "$(mbps $BYTES $t_ocb_get)" "$rss_get"
	printf 'get\taws s3 cp\t%s\t%.2f\t%s\t-\n' "$MIB" "$t_aws_get" "$(mbps $BYTES $t_aws_get)"
	printf 'get\tcurl (raw GET)\t%s\t%.2f\t%s\t-\n' "$MIB" "$t_curl_get" "$(mbps $BYTES $t_curl_get)"
} | tee "$RESULTS/store.tsv" | column -t -s $'\t'

# Extracts the key paths of the reference OpenClaw configuration schema:
#   openclaw-ref config schema > schema.json && python3 extract-keys.py schema.json > reference-keys.txt
import json,sys
schema=json.load(open(sys.argv[1]))
defs=schema.get('definitions',{}) or schema.get('$defs',{})
out=set()
def resolve(s):
    seen=0
    while isinstance(s,dict) and '$ref' in s and seen<20:
        ref=s['$ref'].split('/')[-1]; s=defs.get(ref,{}); seen+=1
    return s
def walk(s,path,depth):
    s=resolve(s)
    if not isinstance(s,dict) or depth>12: return
    for comb in ('anyOf','oneOf','allOf'):
        for sub in s.get(comb,[]): walk(sub,path,depth)
    props=s.get('properties',{})
    for k,v in props.items():
        p=path+[k]; out.add('.'.join(p)); walk(v,p,depth+1)
    ap=s.get('additionalProperties')
    if isinstance(ap,dict) and ap:
        p=path+['*']; out.add('.'.join(p)); walk(ap,p,depth+1)
    for pat,v in s.get('patternProperties',{}).items():
        p=path+['*']; out.add('.'.join(p)); walk(v,p,depth+1)
    it=s.get('items')
    if isinstance(it,dict):
        p=path+['*']; out.add('.'.join(p)); walk(it,p,depth+1)
walk(schema,[],0)
for k in sorted(out): print(k)

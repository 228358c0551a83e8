"""Regenerates demo.yaml: expected routes, numbers and names for the demo evaluation set,
computed from the CRM sample CSV files with the standard library only (independent of the
product code). Run: .venv/bin/python agents/evals/make_demo_eval.py"""
from pathlib import Path
import csv, datetime as dt, collections, yaml
D=str(Path(__file__).resolve().parents[2]/'integrations/warehouse/demo_crm')+'/'
rd=lambda n: list(csv.DictReader(open(D+n+'.csv', encoding='utf-8')))
pipe=rd('sales_pipeline'); teams={r['sales_agent']:r for r in rd('sales_teams')}; acc={r['account']:r for r in rd('accounts')}
prods={r['product_id']:r['product'] for r in rd('products')}
notes=rd('interactions')
def d(s):
    if not s: return None
    m,dd,y=map(int,s.split('/')); return dt.date(y,m,dd)
closed=[r for r in pipe if r['deal_stage'] in('Won','Lost')]
won=[r for r in pipe if r['deal_stage']=='Won']
def wr(key):
    w=collections.Counter(); c=collections.Counter()
    for r in closed:
        k=key(r)
        if k is None: continue
        c[k]+=1; w[k]+= r['deal_stage']=='Won'
    return {k: round(100*w[k]/c[k],1) for k in c}
def rev(a,b):
    rows=[r for r in won if a<=d(r['close_date'])<=b]; return len(rows), sum(int(r['close_value']) for r in rows)
Q=[]
def add(q, route, numbers=(), names=()):
    Q.append({'question':q,'route':route,'numbers':[float(x) if isinstance(x,float) else int(x) for x in numbers],'names':list(names)})
o=wr(lambda r: teams[r['sales_agent']]['regional_office']); add("What is the win rate by regional office?",['data'],o.values(),o.keys())
# The semantic model normalises the sample's misspelt sector 'technolgy' to 'technology' (a value alias).
SECTOR={'technolgy':'technology'}
s=wr(lambda r: SECTOR.get(acc[r['account']]['sector'], acc[r['account']]['sector']) if r['account'] else None); add("What is the win rate by sector?",['data'],s.values(),s.keys())
p=wr(lambda r: prods[r['product_id']]); add("What is the win rate by product?",['data'],p.values(),p.keys())
m=wr(lambda r: teams[r['sales_agent']]['manager']); add("Show the win rate by manager",['data'],m.values(),m.keys())
ag=wr(lambda r: r['sales_agent']); best=max(ag,key=ag.get); add("What is the win rate by sales agent?",['data'],[ag[best]],[best])
add("What is our overall win rate?",['data'],[round(100*len(won)/len(closed),1), len(won)])
n,v=rev(dt.date(2025,1,1),dt.date(2025,3,31)); add("How much closed-won revenue did we book last quarter?",['data'],[v,n])
n,v=rev(dt.date(2025,4,1),dt.date(2025,6,30)); add("How much closed-won revenue have we booked this quarter?",['data'],[v,n])
n,v=rev(dt.date(2024,1,1),dt.date(2024,12,31)); add("What was closed-won revenue last year?",['data'],[v,n])
n,v=rev(dt.date(2024,7,1),dt.date(2024,9,30)); add("Closed-won revenue in Q3 2024?",['data'],[v,n])
n,v=rev(dt.date(2025,5,1),dt.date(2025,5,31)); add("How much revenue did we book last month?",['data'],[v,n])
def top(a=None,b=None,k=5):
    t=collections.Counter()
    for r in won:
        if r['account'] and (a is None or a<=d(r['close_date'])<=b): t[r['account']]+=int(r['close_value'])
    return t.most_common(k)
t=top(); add("Who are our top 5 accounts by revenue?",['data'],[x[1] for x in t],[x[0] for x in t])
t=top(dt.date(2024,1,1),dt.date(2024,12,31),3); add("Top 3 accounts last year",['data'],[x[1] for x in t],[x[0] for x in t])
t=top(k=10); add("List the top 10 customers",['data'],[x[1] for x in t[:3]],[x[0] for x in t])
vals=[int(r['close_value']) for r in won]; add("What is our average deal size?",['data'],[round(sum(vals)/len(vals),2), len(vals)])
v2=[int(r['close_value']) for r in won if dt.date(2024,1,1)<=d(r['close_date'])<=dt.date(2024,12,31)]; add("Average deal size last year",['data'],[round(sum(v2)/len(v2),2)])
st=collections.Counter(r['deal_stage'] for r in pipe if r['deal_stage'] in('Prospecting','Engaging')); add("Show the open pipeline by stage",['data'],[st['Engaging'],st['Prospecting'],st['Engaging']+st['Prospecting']],['Engaging','Prospecting'])
phr=["aurelia","bluehawk","primustech","northpeak","omnisuite","nexcore","competitor","competing vendor","alternative vendor","alternatives like"]
ca={r['account_name'] for r in notes if any(x in r['comment'].lower() for x in phr)}; add("Which accounts have mentioned competitors in call notes?",['data'],[len(ca)],['Aurelia','PrimusTech','BlueHawk'])
for a in ['Acme Corporation','Codehow','Betasoloin']:
    rows=[r for r in pipe if r['account']==a]
    op=[r for r in rows if r['deal_stage'] in('Prospecting','Engaging')]; w=[r for r in rows if r['deal_stage']=='Won']; l=[r for r in rows if r['deal_stage']=='Lost']
    add(f"What is the status of the {a} deals?",['deal_analysis'],[len(op),len(w),len(l),sum(int(r['close_value']) for r in w)],[a])
add("how are the acme corportion opportunities doing?",['deal_analysis'],[],['Acme Corporation'])
for name,a in [('Paul Stokes','Acme Corporation')]+[(r['contact_name'],r['account_name']) for r in notes if r['account_name']=='Codehow'][:1]:
    k=sum(1 for r in notes if r['contact_name']==name and r['account_name']==a)
    add(f"Assess {name} from {a} as a lead",['lead_analysis'],[k],[name,a])
add("Research Acme Corporation's latest news",['web_search'],[],[])
add("Notify the owner of the Acme Corporation deal about the stalled opportunities",['deal_analysis','execution'],[],['Acme Corporation'])
w=[r for r in closed if dt.date(2025,1,1)<=d(r['close_date'])<=dt.date(2025,3,31)]; ww=sum(r['deal_stage']=='Won' for r in w)
add("What was the win rate last quarter?",['data'],[round(100*ww/len(w),1), ww],[])
doc={'description':'Demo evaluation set over the CRM sample (tenant demo, as-of 2025-06-30). Expected figures were computed from the CSV files with the standard library by agents/evals/make_demo_eval.py.','as_of':'2025-06-30','questions':Q}
yaml.safe_dump(doc, open(Path(__file__).with_name('demo.yaml'),'w'), sort_keys=False, allow_unicode=True, width=120)
print(len(Q))
